/* Bridge to jansson: macros and inline functions re-exported as plain functions for Swift. */
#ifndef ESPER_CJANSSON_SHIM_H
#define ESPER_CJANSSON_SHIM_H
#include <jansson.h>

static inline int esper_json_typeof(const json_t *json) { return (int)json_typeof(json); }
static inline void esper_json_decref(json_t *json) { json_decref(json); }
static inline json_t *esper_json_incref(json_t *json) { return json_incref(json); }
static inline int esper_json_is_true(const json_t *json) { return json_is_true(json); }
static inline json_t *esper_json_boolean(int value) { return value ? json_true() : json_false(); }

/* Object iteration without the foreach macros. */
static inline void *esper_json_object_iter(json_t *object) { return json_object_iter(object); }
static inline void *esper_json_object_iter_next(json_t *object, void *iter) {
    return json_object_iter_next(object, iter);
}
static inline const char *esper_json_object_iter_key(void *iter) { return json_object_iter_key(iter); }
static inline size_t esper_json_object_iter_key_len(void *iter) { return json_object_iter_key_len(iter); }
static inline json_t *esper_json_object_iter_value(void *iter) { return json_object_iter_value(iter); }

#endif
