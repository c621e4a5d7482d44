/* Bridge to libmicrohttpd: wrappers for the variadic calls Swift cannot make. */
#ifndef ESPER_CMICROHTTPD_SHIM_H
#define ESPER_CMICROHTTPD_SHIM_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* The daemon's error log, formatted here (Swift cannot take a va_list) and handed to one
 * Swift function; the pointer is set once before the first daemon starts. */
typedef void (*esper_mhd_log_sink)(void *cls, const char *message);

struct esper_mhd_log_ctx {
    esper_mhd_log_sink sink;
    void *cls;
};

static inline void esper_mhd_log_trampoline(void *cls, const char *fmt, va_list ap) {
    struct esper_mhd_log_ctx *ctx = (struct esper_mhd_log_ctx *)cls;
    char buffer[512];
    vsnprintf(buffer, sizeof buffer, fmt, ap);
    if (ctx && ctx->sink) ctx->sink(ctx->cls, buffer);
}

/* Unescapes a URL path or query argument in place like libmicrohttpd's default, but turns
 * every decoded NUL byte into 0x01: a `%00` would otherwise cut the C string short (so
 * `/runs/%00x` would reach the router as `/runs/`). The server rejects any control character
 * left in the result with 400. */
static inline size_t esper_mhd_unescape(void *cls, struct MHD_Connection *connection, char *s) {
    (void)cls;
    (void)connection;
    size_t length = MHD_http_unescape(s);
    for (size_t i = 0; i < length; i++) {
        if (s[i] == '\0') s[i] = 1;
    }
    return length;
}

/* MHD_start_daemon with every option in an MHD_OPTION_ARRAY (terminated by MHD_OPTION_END). */
static inline struct MHD_Daemon *esper_mhd_start(unsigned int flags,
                                                 MHD_AccessHandlerCallback handler, void *handler_cls,
                                                 MHD_RequestCompletedCallback completed, void *completed_cls,
                                                 MHD_AcceptPolicyCallback accept_policy,
                                                 MHD_NotifyConnectionCallback notify_connection, void *connection_cls,
                                                 struct esper_mhd_log_ctx *log,
                                                 struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, 0, accept_policy, connection_cls, handler, handler_cls,
                            MHD_OPTION_EXTERNAL_LOGGER, esper_mhd_log_trampoline, log,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_NOTIFY_CONNECTION, notify_connection, connection_cls,
                            MHD_OPTION_UNESCAPE_CALLBACK, esper_mhd_unescape, NULL,
                            MHD_OPTION_ARRAY, options,
                            MHD_OPTION_END);
}

/* The peer's address, or NULL. */
static inline const struct sockaddr *esper_mhd_client_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info ? info->client_addr : NULL;
}

/* The per-connection pointer the connection notifier stored (NULL before it ran). */
static inline void *esper_mhd_socket_context(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* The connection's socket (for per-socket options such as SO_SNDBUF), or -1. */
static inline int esper_mhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

/* The daemon serving the connection, or NULL. */
static inline struct MHD_Daemon *esper_mhd_connection_daemon(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_DAEMON);
    return info ? info->daemon : NULL;
}

/* A response of unknown length produced by a content-reader callback (MHD_SIZE_UNKNOWN is a
 * macro Swift does not import). */
static inline struct MHD_Response *esper_mhd_stream_response(size_t block_size, MHD_ContentReaderCallback reader,
                                                             void *cls, MHD_ContentReaderFreeCallback free_cls) {
    return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block_size, reader, cls, free_cls);
}

#endif
