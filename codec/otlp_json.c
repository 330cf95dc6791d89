/*
 * otlp_json.c: the OTLP/JSON form of OTLP profiles v1.11.0.
 *
 * OTLP/JSON is the protobuf JSON mapping with OTLP's own rules: field names
 * in lowerCamelCase (the original snake_case names are accepted too), 64-bit
 * integers as decimal strings (numbers accepted), trace/span/profile ids as
 * hex (not base64), other bytes as base64, unknown field names ignored.
 *
 * The codec is a transcoder between JSON and protobuf bytes, driven by one
 * table of the messages below. The model is reached only through the binary
 * codec (otlp_decode / otlp_encode), so the joining and lifting rules of
 * docs/conversion.md have one source of truth and JSON can never disagree
 * with protobuf about what a request means.
 *
 * JSON -> protobuf parses with jansson and writes with pb.h. protobuf ->
 * JSON walks the wire bytes once per schema field (so repeated fields come
 * out grouped, whatever their order on the wire) and writes text straight
 * into the output buffer.
 */
#include "codec/otlp.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_budget.h"
#include "codec/pb.h"
#include "core/base64.h"
#include "core/hex.h"
#include "core/jsonesc.h"

/* ---- schema ------------------------------------------------------------- */

enum jkind {
    JK_STRING,
    JK_BYTES, /* base64 */
    JK_ID,    /* hex; id_len bytes */
    JK_BOOL,
    JK_INT32,
    JK_UINT32,
    JK_INT64,   /* JSON string */
    JK_UINT64,  /* JSON string */
    JK_FIXED64, /* JSON string */
    JK_DOUBLE,
    JK_MSG,
};

#define JF_REPEATED 1u
#define JF_ONEOF 2u /* emitted when present, even at the default value */

struct jmsg;

struct jfield {
    uint32_t num;
    uint8_t kind; /* enum jkind */
    uint8_t flags;
    uint8_t id_len;
    const char *json;       /* lowerCamelCase */
    const char *proto;      /* original name */
    const struct jmsg *msg; /* JK_MSG */
};

struct jmsg {
    const char *name;
    const struct jfield *f;
    uint32_t n;
};

#define JMSG(var, name, tab)                                                  \
    static const struct jmsg var = {name, tab, sizeof(tab) / sizeof(tab[0])}
#define F(num, kind, flags, json, proto)                                      \
    {                                                                         \
        num, kind, flags, 0, json, proto, NULL                                \
    }
#define FM(num, flags, json, proto, m)                                        \
    {                                                                         \
        num, JK_MSG, flags, 0, json, proto, m                                 \
    }
#define FID(num, len, json, proto)                                            \
    {                                                                         \
        num, JK_ID, 0, len, json, proto, NULL                                 \
    }
#define R JF_REPEATED

static const struct jmsg m_anyvalue, m_keyvalue;

static const struct jfield f_arrayvalue[] = {
    FM(1, R, "values", "values", &m_anyvalue),
};
JMSG(m_arrayvalue, "ArrayValue", f_arrayvalue);

static const struct jfield f_kvlist[] = {
    FM(1, R, "values", "values", &m_keyvalue),
};
JMSG(m_kvlist, "KeyValueList", f_kvlist);

static const struct jfield f_anyvalue[] = {
    F(1, JK_STRING, JF_ONEOF, "stringValue", "string_value"),
    F(2, JK_BOOL, JF_ONEOF, "boolValue", "bool_value"),
    F(3, JK_INT64, JF_ONEOF, "intValue", "int_value"),
    F(4, JK_DOUBLE, JF_ONEOF, "doubleValue", "double_value"),
    FM(5, JF_ONEOF, "arrayValue", "array_value", &m_arrayvalue),
    FM(6, JF_ONEOF, "kvlistValue", "kvlist_value", &m_kvlist),
    F(7, JK_BYTES, JF_ONEOF, "bytesValue", "bytes_value"),
    F(8, JK_INT32, JF_ONEOF, "stringValueStrindex", "string_value_strindex"),
};
static const struct jmsg m_anyvalue = {"AnyValue", f_anyvalue, 8};

static const struct jfield f_keyvalue[] = {
    F(1, JK_STRING, 0, "key", "key"),
    FM(2, 0, "value", "value", &m_anyvalue),
    F(3, JK_INT32, 0, "keyStrindex", "key_strindex"),
};
static const struct jmsg m_keyvalue = {"KeyValue", f_keyvalue, 3};

static const struct jfield f_scope[] = {
    F(1, JK_STRING, 0, "name", "name"),
    F(2, JK_STRING, 0, "version", "version"),
    FM(3, R, "attributes", "attributes", &m_keyvalue),
    F(4, JK_UINT32, 0, "droppedAttributesCount", "dropped_attributes_count"),
};
JMSG(m_scope, "InstrumentationScope", f_scope);

static const struct jfield f_entityref[] = {
    F(1, JK_STRING, 0, "schemaUrl", "schema_url"),
    F(2, JK_STRING, 0, "type", "type"),
    F(3, JK_STRING, R, "idKeys", "id_keys"),
    F(4, JK_STRING, R, "descriptionKeys", "description_keys"),
};
JMSG(m_entityref, "EntityRef", f_entityref);

static const struct jfield f_resource[] = {
    FM(1, R, "attributes", "attributes", &m_keyvalue),
    F(2, JK_UINT32, 0, "droppedAttributesCount", "dropped_attributes_count"),
    FM(3, R, "entityRefs", "entity_refs", &m_entityref),
};
JMSG(m_resource, "Resource", f_resource);

static const struct jfield f_valuetype[] = {
    F(1, JK_INT32, 0, "typeStrindex", "type_strindex"),
    F(2, JK_INT32, 0, "unitStrindex", "unit_strindex"),
};
JMSG(m_valuetype, "ValueType", f_valuetype);

static const struct jfield f_sample[] = {
    F(1, JK_INT32, 0, "stackIndex", "stack_index"),
    F(2, JK_INT32, R, "attributeIndices", "attribute_indices"),
    F(3, JK_INT32, 0, "linkIndex", "link_index"),
    F(4, JK_INT64, R, "values", "values"),
    F(5, JK_FIXED64, R, "timestampsUnixNano", "timestamps_unix_nano"),
};
JMSG(m_sample, "Sample", f_sample);

static const struct jfield f_profile[] = {
    FM(1, 0, "sampleType", "sample_type", &m_valuetype),
    FM(2, R, "samples", "samples", &m_sample),
    F(3, JK_FIXED64, 0, "timeUnixNano", "time_unix_nano"),
    F(4, JK_UINT64, 0, "durationNano", "duration_nano"),
    FM(5, 0, "periodType", "period_type", &m_valuetype),
    F(6, JK_INT64, 0, "period", "period"),
    FID(7, 16, "profileId", "profile_id"),
    F(8, JK_UINT32, 0, "droppedAttributesCount", "dropped_attributes_count"),
    F(9, JK_STRING, 0, "originalPayloadFormat", "original_payload_format"),
    F(10, JK_BYTES, 0, "originalPayload", "original_payload"),
    F(11, JK_INT32, R, "attributeIndices", "attribute_indices"),
};
JMSG(m_profile, "Profile", f_profile);

static const struct jfield f_scopeprofiles[] = {
    FM(1, 0, "scope", "scope", &m_scope),
    FM(2, R, "profiles", "profiles", &m_profile),
    F(3, JK_STRING, 0, "schemaUrl", "schema_url"),
};
JMSG(m_scopeprofiles, "ScopeProfiles", f_scopeprofiles);

static const struct jfield f_resourceprofiles[] = {
    FM(1, 0, "resource", "resource", &m_resource),
    FM(2, R, "scopeProfiles", "scope_profiles", &m_scopeprofiles),
    F(3, JK_STRING, 0, "schemaUrl", "schema_url"),
};
JMSG(m_resourceprofiles, "ResourceProfiles", f_resourceprofiles);

static const struct jfield f_mapping[] = {
    F(1, JK_UINT64, 0, "memoryStart", "memory_start"),
    F(2, JK_UINT64, 0, "memoryLimit", "memory_limit"),
    F(3, JK_UINT64, 0, "fileOffset", "file_offset"),
    F(4, JK_INT32, 0, "filenameStrindex", "filename_strindex"),
    F(5, JK_INT32, R, "attributeIndices", "attribute_indices"),
};
JMSG(m_mapping, "Mapping", f_mapping);

static const struct jfield f_line[] = {
    F(1, JK_INT32, 0, "functionIndex", "function_index"),
    F(2, JK_INT64, 0, "line", "line"),
    F(3, JK_INT64, 0, "column", "column"),
};
JMSG(m_line, "Line", f_line);

static const struct jfield f_location[] = {
    F(1, JK_INT32, 0, "mappingIndex", "mapping_index"),
    F(2, JK_UINT64, 0, "address", "address"),
    FM(3, R, "lines", "lines", &m_line),
    F(4, JK_INT32, R, "attributeIndices", "attribute_indices"),
};
JMSG(m_location, "Location", f_location);

static const struct jfield f_function[] = {
    F(1, JK_INT32, 0, "nameStrindex", "name_strindex"),
    F(2, JK_INT32, 0, "systemNameStrindex", "system_name_strindex"),
    F(3, JK_INT32, 0, "filenameStrindex", "filename_strindex"),
    F(4, JK_INT64, 0, "startLine", "start_line"),
};
JMSG(m_function, "Function", f_function);

static const struct jfield f_link[] = {
    FID(1, 16, "traceId", "trace_id"),
    FID(2, 8, "spanId", "span_id"),
};
JMSG(m_link, "Link", f_link);

static const struct jfield f_kvu[] = {
    F(1, JK_INT32, 0, "keyStrindex", "key_strindex"),
    FM(2, 0, "value", "value", &m_anyvalue),
    F(3, JK_INT32, 0, "unitStrindex", "unit_strindex"),
};
JMSG(m_kvu, "KeyValueAndUnit", f_kvu);

static const struct jfield f_stack[] = {
    F(1, JK_INT32, R, "locationIndices", "location_indices"),
};
JMSG(m_stack, "Stack", f_stack);

static const struct jfield f_dictionary[] = {
    FM(1, R, "mappingTable", "mapping_table", &m_mapping),
    FM(2, R, "locationTable", "location_table", &m_location),
    FM(3, R, "functionTable", "function_table", &m_function),
    FM(4, R, "linkTable", "link_table", &m_link),
    F(5, JK_STRING, R, "stringTable", "string_table"),
    FM(6, R, "attributeTable", "attribute_table", &m_kvu),
    FM(7, R, "stackTable", "stack_table", &m_stack),
};
JMSG(m_dictionary, "ProfilesDictionary", f_dictionary);

static const struct jfield f_request[] = {
    FM(1, R, "resourceProfiles", "resource_profiles", &m_resourceprofiles),
    FM(2, 0, "dictionary", "dictionary", &m_dictionary),
};
JMSG(m_request, "ExportProfilesServiceRequest", f_request);

static const struct jfield f_partial[] = {
    F(1, JK_INT64, 0, "rejectedProfiles", "rejected_profiles"),
    F(2, JK_STRING, 0, "errorMessage", "error_message"),
};
JMSG(m_partial, "ExportProfilesPartialSuccess", f_partial);

static const struct jfield f_response[] = {
    FM(1, 0, "partialSuccess", "partial_success", &m_partial),
};
JMSG(m_response, "ExportProfilesServiceResponse", f_response);

/* google.rpc.Status without details (profcol never sends any). */
static const struct jfield f_status[] = {
    F(1, JK_INT32, 0, "code", "code"),
    F(2, JK_STRING, 0, "message", "message"),
};
JMSG(m_status, "Status", f_status);

#undef F
#undef FM
#undef FID
#undef R

/* Message nesting allowed on either side: the fixed request levels plus
 * AnyValue's array/kvlist nesting, which otlp_decode caps at
 * LIMIT_ANYVALUE_DEPTH anyway. */
#define JSON_MAX_DEPTH (2 * LIMIT_ANYVALUE_DEPTH + 16)

static const struct jmsg *msg_of(enum otlp_json_msg m)
{
    switch (m) {
    case OTLP_JSON_RESPONSE:
        return &m_response;
    case OTLP_JSON_STATUS:
        return &m_status;
    case OTLP_JSON_REQUEST:
    default:
        return &m_request;
    }
}

/* ---- JSON -> protobuf --------------------------------------------------- */

/* One step of the path to the current value, formatted only on error. */
struct jstep {
    const char *name; /* field, or NULL for a list index */
    size_t index;
};

#define JSON_MAX_STEPS (2 * JSON_MAX_DEPTH + 8)

struct j2p {
    struct buf *out;
    struct errctx *e;
    struct jstep steps[JSON_MAX_STEPS];
    size_t nsteps;
};

static void path_push_name(struct j2p *c, const char *name)
{
    if (c->nsteps < JSON_MAX_STEPS) {
        c->steps[c->nsteps].name = name;
    }
    c->nsteps++;
}

static void path_push_index(struct j2p *c, size_t index)
{
    if (c->nsteps < JSON_MAX_STEPS) {
        c->steps[c->nsteps].name = NULL;
        c->steps[c->nsteps].index = index;
    }
    c->nsteps++;
}

static void path_pop(struct j2p *c)
{
    c->nsteps--;
}

/* "resourceProfiles[0].scopeProfiles[1]..." into out, truncated. */
static void path_format(const struct j2p *c, char *out, size_t n)
{
    size_t i, len = 0,
              steps = c->nsteps < JSON_MAX_STEPS ? c->nsteps : JSON_MAX_STEPS;

    out[0] = '\0';
    for (i = 0; i < steps && len + 1 < n; i++) {
        const struct jstep *st = &c->steps[i];
        int k = st->name != NULL
                    ? snprintf(out + len, n - len, "%s%s", i ? "." : "",
                               st->name)
                    : snprintf(out + len, n - len, "[%zu]", st->index);
        if (k < 0) {
            break;
        }
        len += (size_t)k;
    }
    if (steps == 0) {
        snprintf(out, n, "(top)");
    }
}

static int j2p_fail(struct j2p *c, const char *what)
{
    char path[160];

    path_format(c, path, sizeof(path));
    return err_set(c->e, PC_ECORRUPT, "otlp json: %s: %s", path, what);
}

static const char *json_kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static int j2p_want(struct j2p *c, const char *want, const json_t *got)
{
    char msg[128];

    snprintf(msg, sizeof(msg), "expected %s, got %s", want,
             json_kind_name(got));
    return j2p_fail(c, msg);
}

/* Parses a decimal integer string (protojson form of 64-bit ints). */
static int parse_dec(const char *s, size_t n, int is_signed, uint64_t *u)
{
    char tmp[32];
    char *end;

    if (n == 0 || n >= sizeof(tmp) || (s[0] == '-' && !is_signed)) {
        return PC_EINVAL;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (memchr(tmp, '\0', n) != NULL || tmp[0] == ' ' || tmp[0] == '+') {
        return PC_EINVAL;
    }
    errno = 0;
    if (is_signed) {
        long long v = strtoll(tmp, &end, 10);
        *u = (uint64_t)v;
    } else {
        *u = strtoull(tmp, &end, 10);
    }
    return errno != 0 || *end != '\0' || end == tmp ? PC_EINVAL : PC_OK;
}

/* A JSON integer, integral real, or decimal string within [lo, hi]. */
static int j2p_integer(struct j2p *c, const json_t *v, int is_signed,
                       uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (!is_signed && i < 0) {
            return j2p_fail(c, "negative value for an unsigned field");
        }
        *out = (uint64_t)i;
        return PC_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* 1e3 is a JSON real but a valid protojson integer. */
        if (d != floor(d) || d < -9.2e18 || d > 1.8e19 ||
            (!is_signed && d < 0)) {
            return j2p_fail(c, "not an integer");
        }
        *out = is_signed ? (uint64_t)(int64_t)d : (uint64_t)d;
        return PC_OK;
    }
    if (json_is_string(v)) {
        if (parse_dec(json_string_value(v), json_string_length(v), is_signed,
                      out) != PC_OK) {
            char msg[96];
            snprintf(msg, sizeof(msg), "\"%.40s\" is not a%s integer",
                     json_string_value(v), is_signed ? "n" : "n unsigned");
            return j2p_fail(c, msg);
        }
        return PC_OK;
    }
    return j2p_want(c, "an integer or a decimal string", v);
}

static int j2p_int32(struct j2p *c, const json_t *v, int is_signed,
                     uint64_t *out)
{
    int rc = j2p_integer(c, v, is_signed, out);

    if (rc != PC_OK) {
        return rc;
    }
    if (is_signed ? ((int64_t)*out < INT32_MIN || (int64_t)*out > INT32_MAX)
                  : *out > UINT32_MAX) {
        return j2p_fail(c, "out of range for a 32-bit field");
    }
    return PC_OK;
}

static int j2p_double(struct j2p *c, const json_t *v, double *d)
{
    if (json_is_number(v)) {
        *d = json_number_value(v);
        return PC_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (strcmp(s, "NaN") == 0) {
            *d = NAN;
        } else if (strcmp(s, "Infinity") == 0) {
            *d = INFINITY;
        } else if (strcmp(s, "-Infinity") == 0) {
            *d = -INFINITY;
        } else {
            *d = strtod(s, &end);
            if (end == s || *end != '\0') {
                return j2p_fail(c, "not a number");
            }
        }
        return PC_OK;
    }
    return j2p_want(c, "a number", v);
}

/* Ids: hex per OTLP; base64 of the right length is accepted too (generic
 * protobuf JSON encoders write it), the lengths never overlap. */
static int j2p_id(struct j2p *c, const struct jfield *f, const json_t *v,
                  uint32_t field)
{
    const char *s;
    size_t n, got;
    uint8_t id[32];

    if (!json_is_string(v)) {
        return j2p_want(c, "a hex string", v);
    }
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0) {
        return PC_OK;
    }
    if (n == (size_t)f->id_len * 2) {
        if (hex_decode(s, n, id) != PC_OK) {
            return j2p_fail(c, "not a hex id");
        }
        return pb_put_bytes(c->out, field, id, f->id_len);
    }
    if (n <= ((size_t)f->id_len + 2) / 3 * 4 &&
        n >= (size_t)f->id_len * 4 / 3 &&
        base64_decode(s, n, id, &got) == PC_OK && got == f->id_len) {
        return pb_put_bytes(c->out, field, id, f->id_len);
    }
    {
        char msg[96];
        snprintf(msg, sizeof(msg),
                 "id must be %u hex digits, got %zu "
                 "characters",
                 f->id_len * 2u, n);
        return j2p_fail(c, msg);
    }
}

static int j2p_bytes(struct j2p *c, const json_t *v, uint32_t field)
{
    size_t n, got;
    uint8_t *tmp;
    int rc;

    if (!json_is_string(v)) {
        return j2p_want(c, "a base64 string", v);
    }
    n = json_string_length(v);
    tmp = malloc(BASE64_DECODED_MAX(n));
    if (tmp == NULL) {
        return err_set(c->e, PC_ENOMEM, "otlp json: out of memory");
    }
    if (base64_decode(json_string_value(v), n, tmp, &got) != PC_OK) {
        free(tmp);
        return j2p_fail(c, "not base64");
    }
    rc = pb_put_bytes(c->out, field, tmp, got);
    free(tmp);
    return rc;
}

/* One scalar of a packable kind, without a tag, into a packed run or after
 * a tag written by the caller. */
static int j2p_packable(struct j2p *c, const struct jfield *f, const json_t *v)
{
    uint64_t u = 0;
    double d;
    int rc;

    switch (f->kind) {
    case JK_BOOL:
        if (!json_is_boolean(v)) {
            return j2p_want(c, "true or false", v);
        }
        return pb_put_varint(c->out, json_is_true(v) ? 1 : 0);
    case JK_INT32:
    case JK_UINT32:
        rc = j2p_int32(c, v, f->kind == JK_INT32, &u);
        /* Negative int32s are sign-extended to ten bytes on the wire. */
        return rc != PC_OK ? rc : pb_put_varint(c->out, u);
    case JK_INT64:
    case JK_UINT64:
        rc = j2p_integer(c, v, f->kind == JK_INT64, &u);
        return rc != PC_OK ? rc : pb_put_varint(c->out, u);
    case JK_FIXED64:
        rc = j2p_integer(c, v, 0, &u);
        if (rc == PC_OK) {
            rc = buf_append(c->out, &u, 8);
        }
        return rc;
    case JK_DOUBLE:
        rc = j2p_double(c, v, &d);
        if (rc == PC_OK) {
            rc = buf_append(c->out, &d, 8);
        }
        return rc;
    default:
        return PC_EINVAL;
    }
}

static unsigned wire_of(const struct jfield *f)
{
    switch (f->kind) {
    case JK_BOOL:
    case JK_INT32:
    case JK_UINT32:
    case JK_INT64:
    case JK_UINT64:
        return PB_VARINT;
    case JK_FIXED64:
    case JK_DOUBLE:
        return PB_I64;
    default:
        return PB_LEN;
    }
}

static int j2p_msg(struct j2p *c, const struct jmsg *m, const json_t *obj,
                   int depth);

/* One value of field f (one element when repeated), tag included. */
static int j2p_one(struct j2p *c, const struct jfield *f, const json_t *v,
                   int depth)
{
    size_t mark = 0;
    int rc;

    switch (f->kind) {
    case JK_STRING:
        if (!json_is_string(v)) {
            return j2p_want(c, "a string", v);
        }
        return pb_put_bytes(c->out, f->num, json_string_value(v),
                            json_string_length(v));
    case JK_BYTES:
        return j2p_bytes(c, v, f->num);
    case JK_ID:
        return j2p_id(c, f, v, f->num);
    case JK_MSG:
        rc = pb_msg_begin(c->out, f->num, &mark);
        if (rc == PC_OK) {
            rc = j2p_msg(c, f->msg, v, depth + 1);
        }
        return rc == PC_OK ? pb_msg_end(c->out, mark) : rc;
    default:
        rc = pb_put_tag(c->out, f->num, wire_of(f));
        return rc == PC_OK ? j2p_packable(c, f, v) : rc;
    }
}

/* A repeated field: packed run for numbers, one field per element else. */
static int j2p_repeated(struct j2p *c, const struct jfield *f,
                        const json_t *arr, int depth)
{
    size_t i, mark = 0;
    int packed = wire_of(f) != PB_LEN, rc = PC_OK;

    if (!json_is_array(arr)) {
        return j2p_want(c, "an array", arr);
    }
    if (json_array_size(arr) == 0) {
        return PC_OK;
    }
    if (packed) {
        rc = pb_msg_begin(c->out, f->num, &mark);
    }
    for (i = 0; rc == PC_OK && i < json_array_size(arr); i++) {
        const json_t *v = json_array_get(arr, i);
        path_push_index(c, i);
        if (json_is_null(v)) {
            rc = j2p_fail(c, "null inside a list");
        } else {
            rc = packed ? j2p_packable(c, f, v) : j2p_one(c, f, v, depth);
        }
        if (rc == PC_OK) {
            path_pop(c);
        }
    }
    if (rc == PC_OK && packed) {
        rc = pb_msg_end(c->out, mark);
    }
    return rc;
}

static const struct jfield *field_by_name(const struct jmsg *m,
                                          const char *key)
{
    uint32_t i;

    for (i = 0; i < m->n; i++) {
        if (strcmp(m->f[i].json, key) == 0 ||
            strcmp(m->f[i].proto, key) == 0) {
            return &m->f[i];
        }
    }
    return NULL;
}

static int j2p_msg(struct j2p *c, const struct jmsg *m, const json_t *obj,
                   int depth)
{
    const char *key;
    json_t *v;

    if (depth > JSON_MAX_DEPTH) {
        return j2p_fail(c, "nested too deeply");
    }
    if (!json_is_object(obj)) {
        char want[64];
        snprintf(want, sizeof(want), "an object (%s)", m->name);
        return j2p_want(c, want, obj);
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct jfield *f = field_by_name(m, key);
        int rc;
        /* OTLP/JSON: unknown names are ignored (newer senders); null
         * means the default value. */
        if (f == NULL || json_is_null(v)) {
            continue;
        }
        path_push_name(c, f->json);
        rc = (f->flags & JF_REPEATED) ? j2p_repeated(c, f, v, depth)
                                      : j2p_one(c, f, v, depth);
        if (rc != PC_OK) {
            return rc;
        }
        path_pop(c);
    }
    return PC_OK;
}

int otlp_json_to_pb(enum otlp_json_msg which, const char *json, size_t len,
                    struct buf *out, struct errctx *e)
{
    json_error_t jerr;
    json_t *root;
    struct j2p c;
    int rc, over = 0;

    if (len == 0) {
        return err_set(e, PC_EEMPTY, "otlp json: empty body");
    }
    root = jsonbudget_loadb(json, len, JSON_ALLOW_NUL, &jerr, &over);
    if (over) {
        return err_set(e, PC_ETOOBIG,
                       "otlp json: parsing takes more than %d times the "
                       "%zu bytes of the body",
                       JSON_BUDGET_FACTOR, len);
    }
    if (root == NULL) {
        return err_set(e, PC_ECORRUPT, "otlp json: line %d column %d: %s",
                       jerr.line, jerr.column, jerr.text);
    }
    memset(&c, 0, sizeof(c));
    c.out = out;
    c.e = e;
    rc = j2p_msg(&c, msg_of(which), root, 0);
    json_decref(root);
    if (rc == PC_ETOOBIG) {
        err_set(e, rc, "otlp json: the protobuf form exceeds %zu bytes",
                out->max);
    } else if (rc == PC_ENOMEM) {
        err_set(e, rc, "otlp json: out of memory");
    }
    return rc;
}

/* ---- protobuf -> JSON --------------------------------------------------- */

struct p2j {
    struct buf *out;
    struct errctx *e;
};

static int p2j_fail(struct p2j *c, const struct jmsg *m, const char *what)
{
    return err_set(c->e, PC_ECORRUPT, "otlp json: %s: %s", m->name, what);
}

static int p2j_double(struct buf *o, double d)
{
    if (isnan(d)) {
        return buf_append_str(o, "\"NaN\"");
    }
    if (isinf(d)) {
        return buf_append_str(o, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    }
    return buf_printf(o, "%.17g", d);
}

/* Decimal digits of v, optionally quoted and negative; printf is the
 * bottleneck of big requests otherwise. */
static int put_dec(struct buf *o, uint64_t v, int neg, int quote)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    int rc;

    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (neg) {
        tmp[--n] = '-';
    }
    rc = buf_reserve(o, sizeof(tmp) - n + 2);
    if (rc != PC_OK) {
        return rc;
    }
    if (quote) {
        o->data[o->len++] = '"';
    }
    memcpy(o->data + o->len, tmp + n, sizeof(tmp) - n);
    o->len += sizeof(tmp) - n;
    if (quote) {
        o->data[o->len++] = '"';
    }
    return PC_OK;
}

static int put_signed(struct buf *o, int64_t v, int quote)
{
    /* -INT64_MIN overflows; its magnitude is representable unsigned. */
    return v < 0 ? put_dec(o, (uint64_t)0 - (uint64_t)v, 1, quote)
                 : put_dec(o, (uint64_t)v, 0, quote);
}

/* A scalar of f from a varint or fixed64 value. */
static int p2j_number(struct buf *o, const struct jfield *f, uint64_t v)
{
    double d;

    switch (f->kind) {
    case JK_BOOL:
        return buf_append_str(o, v ? "true" : "false");
    case JK_INT32:
        return put_signed(o, (int32_t)v, 0);
    case JK_UINT32:
        return put_dec(o, (uint32_t)v, 0, 0);
    case JK_INT64:
        return put_signed(o, (int64_t)v, 1);
    case JK_UINT64:
    case JK_FIXED64:
        return put_dec(o, v, 0, 1);
    case JK_DOUBLE:
        memcpy(&d, &v, 8);
        return p2j_double(o, d);
    default:
        return PC_EINVAL;
    }
}

static int p2j_msg(struct p2j *c, const struct jmsg *m, const uint8_t *p,
                   const uint8_t *end, int depth);

/* One length-delimited value of f (string, bytes, id or message). */
static int p2j_lenval(struct p2j *c, const struct jfield *f, const uint8_t *s,
                      size_t n, int depth)
{
    switch (f->kind) {
    case JK_STRING:
        return jsonesc_quoted(c->out, (const char *)s, n);
    case JK_BYTES:
    case JK_ID: {
        int rc = buf_putc(c->out, '"');
        if (rc == PC_OK) {
            rc = f->kind == JK_ID ? hex_append(c->out, s, n)
                                  : base64_encode(c->out, s, n);
        }
        return rc == PC_OK ? buf_putc(c->out, '"') : rc;
    }
    default:
        return p2j_msg(c, f->msg, s, s + n, depth + 1);
    }
}

/* Writes every element of one occurrence of a numeric field: a packed run
 * holds many, an unpacked occurrence one. */
static int p2j_numbers(struct p2j *c, const struct jmsg *m,
                       const struct jfield *f, const uint8_t **p,
                       const uint8_t *end, unsigned w, int *first)
{
    const uint8_t *s = *p, *e = end;
    size_t n;
    int rc, packed = w == PB_LEN;

    if (packed) {
        rc = pb_read_len(p, end, &s, &n);
        if (rc != PC_OK) {
            return p2j_fail(c, m, "truncated field");
        }
        e = s + n;
    } else if (w != wire_of(f)) {
        return p2j_fail(c, m, "wrong wire type");
    }
    while (s < e) {
        uint64_t v;
        if (wire_of(f) == PB_I64) {
            rc = pb_read_fixed64(&s, e, &v);
        } else {
            rc = pb_read_varint(&s, e, &v);
        }
        if (rc != PC_OK) {
            return p2j_fail(c, m, "malformed number");
        }
        if (!*first && (rc = buf_putc(c->out, ',')) != PC_OK) {
            return rc;
        }
        *first = 0;
        rc = p2j_number(c->out, f, v);
        if (rc != PC_OK) {
            return rc;
        }
        if (!packed) {
            *p = s;
            break;
        }
    }
    return PC_OK;
}

static int p2j_key(struct buf *o, const struct jfield *f, int *first)
{
    size_t n = strlen(f->json);
    int rc = buf_reserve(o, n + 4);

    if (rc != PC_OK) {
        return rc;
    }
    if (!*first) {
        o->data[o->len++] = ',';
    }
    *first = 0;
    o->data[o->len++] = '"';
    memcpy(o->data + o->len, f->json, n);
    o->len += n;
    o->data[o->len++] = '"';
    o->data[o->len++] = ':';
    return PC_OK;
}

/* A repeated field: every occurrence in [p, end), as one array. */
static int p2j_repeated(struct p2j *c, const struct jmsg *m,
                        const struct jfield *f, const uint8_t *p,
                        const uint8_t *end, int depth, int *first)
{
    int any = 0, efirst = 1, rc = PC_OK;

    while (p < end && rc == PC_OK) {
        uint32_t num;
        unsigned w;
        const uint8_t *s;
        size_t n;
        if (pb_read_tag(&p, end, &num, &w) != PC_OK) {
            return p2j_fail(c, m, "malformed tag");
        }
        if (num != f->num) {
            if (pb_skip(&p, end, w) != PC_OK) {
                return p2j_fail(c, m, "malformed field");
            }
            continue;
        }
        if (!any) {
            rc = p2j_key(c->out, f, first);
            if (rc == PC_OK) {
                rc = buf_putc(c->out, '[');
            }
            any = 1;
        }
        if (rc != PC_OK) {
            break;
        }
        if (wire_of(f) != PB_LEN) {
            rc = p2j_numbers(c, m, f, &p, end, w, &efirst);
            continue;
        }
        if (w != PB_LEN || pb_read_len(&p, end, &s, &n) != PC_OK) {
            return p2j_fail(c, m, "malformed length-delimited field");
        }
        if (!efirst) {
            rc = buf_putc(c->out, ',');
        }
        efirst = 0;
        if (rc == PC_OK) {
            rc = p2j_lenval(c, f, s, n, depth);
        }
    }
    return rc == PC_OK && any ? buf_putc(c->out, ']') : rc;
}

/* A singular field: the last occurrence wins, as in protobuf. Defaults are
 * left out (proto3 JSON) unless the field is part of a oneof; messages are
 * written whenever present, since presence means something there. */
static int p2j_single(struct p2j *c, const struct jmsg *m,
                      const struct jfield *f, const uint8_t *p,
                      const uint8_t *end, int depth, int *first)
{
    const uint8_t *vs = NULL;
    size_t vn = 0;
    uint64_t v = 0;
    int found = 0;

    while (p < end) {
        uint32_t num;
        unsigned w;
        if (pb_read_tag(&p, end, &num, &w) != PC_OK) {
            return p2j_fail(c, m, "malformed tag");
        }
        if (num != f->num) {
            if (pb_skip(&p, end, w) != PC_OK) {
                return p2j_fail(c, m, "malformed field");
            }
            continue;
        }
        if (w != wire_of(f)) {
            return p2j_fail(c, m, "wrong wire type");
        }
        found = 1;
        if ((w == PB_LEN && pb_read_len(&p, end, &vs, &vn) != PC_OK) ||
            (w == PB_VARINT && pb_read_varint(&p, end, &v) != PC_OK) ||
            (w == PB_I64 && pb_read_fixed64(&p, end, &v) != PC_OK)) {
            return p2j_fail(c, m, "truncated field");
        }
    }
    if (!found || (!(f->flags & JF_ONEOF) && f->kind != JK_MSG &&
                   (wire_of(f) == PB_LEN ? vn == 0 : v == 0))) {
        return PC_OK;
    }
    {
        int rc = p2j_key(c->out, f, first);
        if (rc != PC_OK) {
            return rc;
        }
        return wire_of(f) == PB_LEN ? p2j_lenval(c, f, vs, vn, depth)
                                    : p2j_number(c->out, f, v);
    }
}

/* Checks that [p, end) is well-formed wire data before fields are picked
 * out of it, so that a malformed tail is reported, not silently cut. */
static int p2j_check(struct p2j *c, const struct jmsg *m, const uint8_t *p,
                     const uint8_t *end)
{
    while (p < end) {
        uint32_t num;
        unsigned w;
        if (pb_read_tag(&p, end, &num, &w) != PC_OK ||
            pb_skip(&p, end, w) != PC_OK) {
            return p2j_fail(c, m, "malformed protobuf");
        }
    }
    return PC_OK;
}

static int p2j_msg(struct p2j *c, const struct jmsg *m, const uint8_t *p,
                   const uint8_t *end, int depth)
{
    uint32_t i;
    int first = 1, rc;

    if (depth > JSON_MAX_DEPTH) {
        return p2j_fail(c, m, "nested too deeply");
    }
    rc = p2j_check(c, m, p, end);
    if (rc == PC_OK) {
        rc = buf_putc(c->out, '{');
    }
    for (i = 0; rc == PC_OK && i < m->n; i++) {
        const struct jfield *f = &m->f[i];
        rc = (f->flags & JF_REPEATED)
                 ? p2j_repeated(c, m, f, p, end, depth, &first)
                 : p2j_single(c, m, f, p, end, depth, &first);
    }
    return rc == PC_OK ? buf_putc(c->out, '}') : rc;
}

int otlp_pb_to_json(enum otlp_json_msg which, const uint8_t *data, size_t len,
                    struct buf *out, struct errctx *e)
{
    struct p2j c;
    size_t start = out->len;
    int rc;

    c.out = out;
    c.e = e;
    /* data may be NULL when len is 0: no arithmetic on it then. */
    rc = p2j_msg(&c, msg_of(which), data, len > 0 ? data + len : data, 0);
    if (rc != PC_OK) {
        out->len = start;
        if (rc == PC_ENOMEM || rc == PC_ETOOBIG) {
            err_set(e, rc, "otlp json: %s", pc_strerror(rc));
        }
    }
    return rc;
}

/* ---- model -------------------------------------------------------------- */

static void free_cb(void *p)
{
    free(p);
}

int otlp_json_decode(const char *json, size_t len,
                     const struct decode_limits *lim, struct pdata **out,
                     struct errctx *e)
{
    size_t cap = lim != NULL && lim->max_decompressed != 0
                     ? lim->max_decompressed
                     : LIMIT_DECOMPRESSED_DEFAULT;
    struct buf pb;
    uint8_t *data;
    size_t n;
    int rc;

    /* Protobuf is never much larger than its JSON form; the cap keeps a
     * hostile body from growing without bound anyway. */
    buf_init(&pb, cap);
    rc = otlp_json_to_pb(OTLP_JSON_REQUEST, json, len, &pb, e);
    if (rc != PC_OK) {
        buf_free(&pb);
        return rc;
    }
    data = buf_take(&pb, &n);
    rc = otlp_decode_borrow(data != NULL ? data : (const uint8_t *)"", n, lim,
                            out, e);
    if (rc != PC_OK) {
        free(data);
        return rc;
    }
    /* The pdata's strings point into data: it lives as long as the arena. */
    if (data != NULL && arena_on_free(&(*out)->arena, free_cb, data) != 0) {
        pdata_free(*out);
        *out = NULL;
        free(data);
        return err_set(e, PC_ENOMEM, "otlp json: out of memory");
    }
    return PC_OK;
}

int otlp_json_encode(const struct pdata *const *in, size_t n, struct buf *out,
                     struct errctx *e)
{
    struct buf pb;
    int rc;

    buf_init(&pb, 0);
    rc = otlp_encode(in, n, &pb, e);
    if (rc == PC_OK) {
        rc = otlp_pb_to_json(OTLP_JSON_REQUEST, pb.data, pb.len, out, e);
    }
    buf_free(&pb);
    return rc;
}
