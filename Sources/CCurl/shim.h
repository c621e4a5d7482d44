// libcurl for Swift: curl_easy_setopt/getinfo are variadic and CURL_GLOBAL_DEFAULT is a
// macro, so neither imports; these wrappers do. The write callback keeps the first bytes of
// a response body (for the delivery log) and discards the rest.
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

// A whole response body (artifact downloads), grown with realloc up to `limit` bytes — a
// larger body aborts the transfer (`overflow`) — and the `X-Esper-SHA256` response header.
typedef struct {
    unsigned char *data;
    size_t length;
    size_t capacity;
    size_t limit;
    int overflow;
    char sha256[65];
} esper_curl_download;

static size_t esper_curl_download_write(char *data, size_t size, size_t count, void *context) {
    esper_curl_download *download = (esper_curl_download *)context;
    size_t total = size * count;
    if (download->length + total > download->limit) {
        download->overflow = 1;
        return 0;
    }
    if (download->length + total > download->capacity) {
        size_t capacity = download->capacity ? download->capacity : 65536;
        while (capacity < download->length + total) capacity *= 2;
        unsigned char *grown = (unsigned char *)realloc(download->data, capacity);
        if (!grown) return 0;
        download->data = grown;
        download->capacity = capacity;
    }
    memcpy(download->data + download->length, data, total);
    download->length += total;
    return total;
}

static size_t esper_curl_download_header(char *line, size_t size, size_t count, void *context) {
    esper_curl_download *download = (esper_curl_download *)context;
    size_t total = size * count;
    static const char name[] = "x-esper-sha256:";
    size_t prefix = sizeof(name) - 1;
    if (total > prefix && strncasecmp(line, name, prefix) == 0) {
        size_t at = prefix;
        while (at < total && (line[at] == ' ' || line[at] == '\t')) at++;
        size_t copied = 0;
        while (at < total && copied < 64 && line[at] != '\r' && line[at] != '\n') download->sha256[copied++] = line[at++];
        download->sha256[copied] = 0;
    }
    return total;
}

static inline CURLcode esper_curl_download_into(CURL *curl, esper_curl_download *download) {
    CURLcode code = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, esper_curl_download_write);
    if (code != CURLE_OK) return code;
    code = curl_easy_setopt(curl, CURLOPT_WRITEDATA, download);
    if (code != CURLE_OK) return code;
    code = curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, esper_curl_download_header);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(curl, CURLOPT_HEADERDATA, download);
}

static inline void esper_curl_download_free(esper_curl_download *download) {
    free(download->data);
    download->data = NULL;
    download->length = download->capacity = 0;
}
