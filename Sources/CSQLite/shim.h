/* Bridge to SQLite: the destructor macros do not import into Swift. */
#ifndef ESPER_CSQLITE_SHIM_H
#define ESPER_CSQLITE_SHIM_H
#include <sqlite3.h>

static inline int esper_sqlite3_bind_text_transient(sqlite3_stmt *stmt, int index, const char *text, int length) {
    return sqlite3_bind_text(stmt, index, text, length, SQLITE_TRANSIENT);
}
static inline int esper_sqlite3_bind_blob_transient(sqlite3_stmt *stmt, int index, const void *data, int length) {
    return sqlite3_bind_blob(stmt, index, data, length, SQLITE_TRANSIENT);
}
#endif
