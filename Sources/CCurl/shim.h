// libcurl for Swift: curl_easy_setopt/getinfo are variadic and CURL_GLOBAL_DEFAULT is a
// macro, so neither imports; these wrappers do. The write callback keeps the first bytes of
// a response body (for the delivery log) and discards the rest.
#include <curl/curl.h>
#include <string.h>

typedef struct {
    char data[512];
    size_t length;
} esper_curl_buffer;

static inline CURLcode esper_curl_global_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT); }

static inline CURLcode esper_curl_setopt_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode esper_curl_setopt_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode esper_curl_setopt_headers(CURL *curl, struct curl_slist *headers) {
    return curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
}

static inline CURLcode esper_curl_setopt_body(CURL *curl, const void *body, long length) {
    CURLcode code = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, length);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
}

static size_t esper_curl_collect(char *data, size_t size, size_t count, void *context) {
    esper_curl_buffer *buffer = (esper_curl_buffer *)context;
    size_t total = size * count;
    size_t room = sizeof(buffer->data) - 1 - buffer->length;
    size_t copy = total < room ? total : room;
    memcpy(buffer->data + buffer->length, data, copy);
    buffer->length += copy;
    buffer->data[buffer->length] = 0;
    return total;
}

static inline CURLcode esper_curl_collect_body(CURL *curl, esper_curl_buffer *buffer) {
    CURLcode code = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, esper_curl_collect);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(curl, CURLOPT_WRITEDATA, buffer);
}

static inline long esper_curl_response_code(CURL *curl) {
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}
