/*
 * ynode.c: YAML text -> struct ynode tree, with positions and ${env:...}
 * expansion.
 *
 * libyaml's document API does the parsing (yaml_parser_load); we then copy
 * its node graph into our own tree. The copy is where the rules live: aliases
 * become copies of the anchored subtree (counted against the node budget, so
 * a document of nested aliases cannot blow up), recursive aliases hit the
 * depth bound, keys must be scalars and unique, and scalar values get their
 * environment references expanded exactly once per source node (an aliased
 * scalar shares its text).
 */
#include "config/ynode.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/buf.h"
#include "core/err.h"

/* Node text is copied once; the arena bound is a second line of defence
 * behind the node budget. */
#define YDOC_ARENA_LIMIT ((size_t)64 << 20)
/* As the Collector: at most this many ${...} references in one value. */
#define YNODE_MAX_REFS 100

struct build {
    yaml_document_t *ydoc;
    struct ydoc *doc;
    char **expanded; /* per libyaml node (1-based index - 1) */
    size_t nyaml;
    uint32_t nodes; /* ynodes made so far */
    char *err;
    size_t errlen;
};

static uint32_t mark_u32(size_t v)
{
    return v >= UINT32_MAX ? UINT32_MAX : (uint32_t)v + 1;
}

static int build_fail(struct build *b, const yaml_node_t *at, int code,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int build_fail(struct build *b, const yaml_node_t *at, int code,
                      const char *fmt, ...)
{
    va_list ap;
    int n;

    n = snprintf(b->err, b->errlen, "%s:%u:%u: ", b->doc->file,
                 mark_u32(at->start_mark.line),
                 mark_u32(at->start_mark.column));
    if (n < 0 || (size_t)n >= b->errlen) {
        return code;
    }
    va_start(ap, fmt);
    vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- environment references ------------------------------------------- */

static int is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static int is_scheme_char(char c)
{
    return is_name_char(c) || c == '+' || c == '.' || c == '-';
}

/* Length of the scheme before ':' in ref ("file" in "file:/x"), or 0. */
static size_t scheme_len(const char *ref, size_t len)
{
    size_t i;

    if (len == 0 || !((ref[0] >= 'A' && ref[0] <= 'Z') ||
                      (ref[0] >= 'a' && ref[0] <= 'z'))) {
        return 0;
    }
    for (i = 1; i < len && is_scheme_char(ref[i]); i++) {
    }
    if (i < len && ref[i] == ':' && !(i + 1 < len && ref[i + 1] == '-')) {
        return i;
    }
    return 0;
}

static int has_ref_start(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (s[i] == '$' && s[i + 1] == '{') {
            return 1;
        }
    }
    return 0;
}

static int ref_error(char *err, size_t errlen, const char *ref, size_t len,
                     const char *why)
{
    int shown = len > 40 ? 40 : (int)len;

    snprintf(err, errlen, "malformed environment reference '${%.*s%s}': %s",
             shown, ref, len > 40 ? "..." : "", why);
    return PC_EINVAL;
}

/* Resolves the inside of one ${...} (ref, len bytes) and appends it. */
static int expand_ref(const char *ref, size_t len, struct buf *out, char *err,
                      size_t errlen)
{
    const char *p = ref, *end = ref + len, *def = NULL;
    size_t slen, deflen = 0;
    char name[256];
    const char *val;

    slen = scheme_len(ref, len);
    if (slen == 3 && memcmp(ref, "env", 3) == 0) {
        p += 4;
    } else if (slen > 0) {
        return ref_error(err, errlen, ref, len,
                         "unsupported provider (profcol expands only "
                         "${env:NAME} and ${env:NAME:-default})");
    }
    if (p == end || !is_name_start(*p)) {
        return ref_error(err, errlen, ref, len,
                         "expected a variable name [A-Za-z_][A-Za-z0-9_]*");
    }
    slen = 0;
    while (p + slen < end && is_name_char(p[slen])) {
        slen++;
    }
    if (slen >= sizeof(name)) {
        return ref_error(err, errlen, ref, len, "variable name too long");
    }
    memcpy(name, p, slen);
    name[slen] = '\0';
    p += slen;
    if (p < end) {
        if (end - p < 2 || p[0] != ':' || p[1] != '-') {
            return ref_error(err, errlen, ref, len,
                             "expected ${env:NAME} or ${env:NAME:-default}");
        }
        def = p + 2;
        deflen = (size_t)(end - def);
        if (has_ref_start(def, deflen)) {
            return ref_error(err, errlen, ref, len,
                             "nested references are not supported");
        }
    }
    /* As the Collector: the default applies only when the variable is
     * unset; a set but empty variable expands to "". */
    val = getenv(name);
    if (val != NULL) {
        return buf_append_str(out, val);
    }
    if (def != NULL) {
        return buf_append(out, def, deflen);
    }
    return PC_OK;
}

int ynode_expand_env(const char *s, size_t len, char **out, char *err,
                     size_t errlen)
{
    struct buf b;
    size_t i = 0, refs = 0;
    const char *close;
    int rc = PC_OK;

    *out = NULL;
    buf_init(&b, YNODE_MAX_SCALAR);
    while (i < len && rc == PC_OK) {
        if (s[i] != '$' || i + 1 >= len) {
            rc = buf_putc(&b, (uint8_t)s[i++]);
        } else if (s[i + 1] == '$') {
            rc = buf_putc(&b, '$');
            i += 2;
        } else if (s[i + 1] == '{') {
            close = memchr(s + i + 2, '}', len - i - 2);
            if (close == NULL) {
                snprintf(err, errlen,
                         "malformed environment reference: "
                         "'${' without a closing '}'");
                rc = PC_EINVAL;
                break;
            }
            if (++refs > YNODE_MAX_REFS) {
                snprintf(err, errlen,
                         "more than %d environment references "
                         "in one value",
                         YNODE_MAX_REFS);
                rc = PC_EINVAL;
                break;
            }
            rc = expand_ref(s + i + 2, (size_t)(close - (s + i + 2)), &b, err,
                            errlen);
            i = (size_t)(close - s) + 1;
        } else {
            rc = buf_putc(&b, '$');
            i++;
        }
    }
    if (rc == PC_OK) {
        rc = buf_putc(&b, '\0');
    }
    if (rc == PC_ETOOBIG) {
        snprintf(err, errlen, "value longer than %zu bytes after expansion",
                 YNODE_MAX_SCALAR);
        rc = PC_EINVAL;
    } else if (rc == PC_ENOMEM) {
        snprintf(err, errlen, "out of memory");
    }
    if (rc != PC_OK) {
        buf_free(&b);
        return rc;
    }
    *out = (char *)buf_take(&b, NULL);
    return PC_OK;
}

/* ---- tree building ---------------------------------------------------- */

static int build_node(struct build *b, int index, struct ynode *parent,
                      int depth, struct ynode **out);

static struct ynode *node_new(struct build *b, const yaml_node_t *src,
                              enum ynode_kind kind, struct ynode *parent)
{
    struct ynode *n;

    if (b->nodes >= YNODE_MAX_NODES) {
        build_fail(b, src, PC_ETOOBIG,
                   "document too large (more than %d "
                   "nodes after resolving aliases)",
                   YNODE_MAX_NODES);
        return NULL;
    }
    n = arena_calloc(&b->doc->arena, 1, sizeof(*n));
    if (n == NULL) {
        build_fail(b, src, PC_ENOMEM, "document too large (out of memory)");
        return NULL;
    }
    b->nodes++;
    n->kind = kind;
    n->file = b->doc->file;
    n->line = mark_u32(src->start_mark.line);
    n->col = mark_u32(src->start_mark.column);
    n->parent = parent;
    return n;
}

static int scalar_is_null(const yaml_node_t *src)
{
    const char *v = (const char *)src->data.scalar.value;

    if (src->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }
    return src->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
           strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/* Text of a scalar; values are env-expanded once per source node, keys are
 * taken literally (as the Collector does). */
static int scalar_text(struct build *b, int index, const yaml_node_t *src,
                       int expand, char **text)
{
    const char *v = (const char *)src->data.scalar.value;
    size_t len = src->data.scalar.length;
    char msg[256], *exp;
    int rc;

    if (memchr(v, '\0', len) != NULL) {
        return build_fail(b, src, PC_EINVAL, "NUL character in a scalar");
    }
    if (!expand) {
        *text = arena_strndup(&b->doc->arena, v, len);
        return *text ? PC_OK : build_fail(b, src, PC_ENOMEM, "out of memory");
    }
    if (b->expanded[index - 1] != NULL) {
        *text = b->expanded[index - 1];
        return PC_OK;
    }
    rc = ynode_expand_env(v, len, &exp, msg, sizeof(msg));
    if (rc != PC_OK) {
        return build_fail(b, src, rc, "%s", msg);
    }
    *text = arena_strndup(&b->doc->arena, exp, strlen(exp));
    free(exp);
    if (*text == NULL) {
        return build_fail(b, src, PC_ENOMEM, "out of memory");
    }
    b->expanded[index - 1] = *text;
    return PC_OK;
}

static int build_scalar(struct build *b, int index, const yaml_node_t *src,
                        struct ynode *parent, int expand, struct ynode **out)
{
    struct ynode *n = node_new(b, src, YNODE_SCALAR, parent);

    if (n == NULL) {
        return b->nodes >= YNODE_MAX_NODES ? PC_ETOOBIG : PC_ENOMEM;
    }
    n->quoted = src->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    n->is_null = scalar_is_null(src);
    *out = n;
    return scalar_text(b, index, src, expand, &n->value);
}

static int build_seq(struct build *b, const yaml_node_t *src,
                     struct ynode *parent, int depth, struct ynode **out)
{
    size_t count = (size_t)(src->data.sequence.items.top -
                            src->data.sequence.items.start);
    struct ynode *n = node_new(b, src, YNODE_SEQ, parent);
    size_t i;
    int rc;

    if (n == NULL) {
        return b->nodes >= YNODE_MAX_NODES ? PC_ETOOBIG : PC_ENOMEM;
    }
    *out = n;
    if (count > YNODE_MAX_NODES) {
        return build_fail(b, src, PC_ETOOBIG, "sequence too long");
    }
    n->children = arena_calloc(&b->doc->arena, count ? count : 1,
                               sizeof(*n->children));
    if (n->children == NULL) {
        return build_fail(b, src, PC_ENOMEM, "out of memory");
    }
    for (i = 0; i < count; i++) {
        rc = build_node(b, src->data.sequence.items.start[i], n, depth + 1,
                        &n->children[i]);
        if (rc != PC_OK) {
            return rc;
        }
        n->children[i]->index = (uint32_t)i;
        n->n++;
    }
    return PC_OK;
}

static int key_cmp(const void *a, const void *b)
{
    const struct ynode *x = *(const struct ynode *const *)a;
    const struct ynode *y = *(const struct ynode *const *)b;
    int c = strcmp(x->value, y->value);

    if (c != 0) {
        return c;
    }
    /* Equal keys: document order, so the first one is reported as such. */
    if (x->line != y->line) {
        return x->line < y->line ? -1 : 1;
    }
    return x->col < y->col ? -1 : (x->col > y->col);
}

/* Sorting a copy keeps this O(n log n) for maps with many keys. */
static int check_duplicates(struct build *b, struct ynode *map,
                            const yaml_node_t *src)
{
    struct ynode **sorted;
    uint32_t i;

    if (map->n < 2) {
        return PC_OK;
    }
    sorted = malloc(map->n * sizeof(*sorted));
    if (sorted == NULL) {
        return build_fail(b, src, PC_ENOMEM, "out of memory");
    }
    memcpy(sorted, map->keys, map->n * sizeof(*sorted));
    qsort(sorted, map->n, sizeof(*sorted), key_cmp);
    for (i = 1; i < map->n; i++) {
        if (strcmp(sorted[i - 1]->value, sorted[i]->value) == 0) {
            snprintf(b->err, b->errlen,
                     "%s:%u:%u: duplicate key '%.100s' (first defined at "
                     "%u:%u)",
                     b->doc->file, sorted[i]->line, sorted[i]->col,
                     sorted[i]->value, sorted[i - 1]->line,
                     sorted[i - 1]->col);
            free(sorted);
            return PC_EINVAL;
        }
    }
    free(sorted);
    return PC_OK;
}

static int build_pair(struct build *b, const yaml_node_pair_t *pair,
                      struct ynode *map, int depth)
{
    const yaml_node_t *k = yaml_document_get_node(b->ydoc, pair->key);
    uint32_t i = map->n;
    int rc;

    if (k == NULL) {
        return PC_ECORRUPT;
    }
    if (k->type != YAML_SCALAR_NODE) {
        return build_fail(b, k, PC_EINVAL, "mapping keys must be scalars");
    }
    if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        k->data.scalar.length == 2 &&
        memcmp(k->data.scalar.value, "<<", 2) == 0) {
        return build_fail(b, k, PC_EUNSUPPORTED,
                          "YAML merge keys ('<<') are "
                          "not supported; write the keys out");
    }
    rc = build_scalar(b, pair->key, k, map, 0, &map->keys[i]);
    if (rc != PC_OK) {
        return rc;
    }
    rc = build_node(b, pair->value, map, depth + 1, &map->children[i]);
    if (rc != PC_OK) {
        return rc;
    }
    map->children[i]->pkey = map->keys[i];
    map->n++;
    return PC_OK;
}

static int build_map(struct build *b, const yaml_node_t *src,
                     struct ynode *parent, int depth, struct ynode **out)
{
    size_t count = (size_t)(src->data.mapping.pairs.top -
                            src->data.mapping.pairs.start);
    struct ynode *n = node_new(b, src, YNODE_MAP, parent);
    size_t i;
    int rc;

    if (n == NULL) {
        return b->nodes >= YNODE_MAX_NODES ? PC_ETOOBIG : PC_ENOMEM;
    }
    *out = n;
    if (count > YNODE_MAX_NODES) {
        return build_fail(b, src, PC_ETOOBIG, "mapping too large");
    }
    n->keys = arena_calloc(&b->doc->arena, count ? count : 1,
                           sizeof(*n->keys));
    n->children = arena_calloc(&b->doc->arena, count ? count : 1,
                               sizeof(*n->children));
    if (n->keys == NULL || n->children == NULL) {
        return build_fail(b, src, PC_ENOMEM, "out of memory");
    }
    for (i = 0; i < count; i++) {
        rc = build_pair(b, &src->data.mapping.pairs.start[i], n, depth);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return check_duplicates(b, n, src);
}

static int build_node(struct build *b, int index, struct ynode *parent,
                      int depth, struct ynode **out)
{
    const yaml_node_t *src = yaml_document_get_node(b->ydoc, index);

    *out = NULL;
    if (src == NULL) {
        snprintf(b->err, b->errlen, "%s: invalid YAML document", b->doc->file);
        return PC_ECORRUPT;
    }
    /* Also what stops a recursive alias (&a [*a]). */
    if (depth >= YNODE_MAX_DEPTH) {
        return build_fail(b, src, PC_ETOOBIG, "nesting deeper than %d levels",
                          YNODE_MAX_DEPTH);
    }
    switch (src->type) {
    case YAML_SCALAR_NODE:
        return build_scalar(b, index, src, parent, 1, out);
    case YAML_SEQUENCE_NODE:
        return build_seq(b, src, parent, depth, out);
    case YAML_MAPPING_NODE:
        return build_map(b, src, parent, depth, out);
    default:
        return build_fail(b, src, PC_EINVAL, "unsupported YAML node");
    }
}

/* ---- loading ---------------------------------------------------------- */

static int parser_fail(const yaml_parser_t *p, const char *file, char *err,
                       size_t errlen)
{
    const yaml_mark_t *m = &p->problem_mark;

    if (p->error == YAML_MEMORY_ERROR) {
        snprintf(err, errlen, "%s: out of memory while parsing YAML", file);
        return PC_ENOMEM;
    }
    if (p->context != NULL) {
        snprintf(err, errlen, "%s:%u:%u: invalid YAML: %s (%s at %u:%u)", file,
                 mark_u32(m->line), mark_u32(m->column),
                 p->problem ? p->problem : "syntax error", p->context,
                 mark_u32(p->context_mark.line),
                 mark_u32(p->context_mark.column));
    } else {
        snprintf(err, errlen, "%s:%u:%u: invalid YAML: %s", file,
                 mark_u32(m->line), mark_u32(m->column),
                 p->problem ? p->problem : "syntax error");
    }
    return PC_EINVAL;
}

/* A second document in the stream is refused rather than ignored. */
static int check_single_document(yaml_parser_t *p, const char *file, char *err,
                                 size_t errlen)
{
    yaml_document_t extra;
    const yaml_node_t *root;
    int rc = PC_OK;

    if (!yaml_parser_load(p, &extra)) {
        return parser_fail(p, file, err, errlen);
    }
    root = yaml_document_get_root_node(&extra);
    if (root != NULL) {
        snprintf(err, errlen, "%s:%u:%u: only one YAML document is allowed",
                 file, mark_u32(root->start_mark.line),
                 mark_u32(root->start_mark.column));
        rc = PC_EINVAL;
    }
    yaml_document_delete(&extra);
    return rc;
}

static int convert(struct ydoc *doc, yaml_document_t *ydoc, char *err,
                   size_t errlen)
{
    struct build b;
    const yaml_node_t *root = yaml_document_get_root_node(ydoc);
    int rc;

    if (root == NULL) {
        return PC_OK;
    }
    memset(&b, 0, sizeof(b));
    b.ydoc = ydoc;
    b.doc = doc;
    b.err = err;
    b.errlen = errlen;
    b.nyaml = (size_t)(ydoc->nodes.top - ydoc->nodes.start);
    b.expanded = calloc(b.nyaml ? b.nyaml : 1, sizeof(*b.expanded));
    if (b.expanded == NULL) {
        snprintf(err, errlen, "%s: out of memory", doc->file);
        return PC_ENOMEM;
    }
    rc = build_node(&b, 1, NULL, 0, &doc->root);
    free(b.expanded);
    if (rc != PC_OK) {
        doc->root = NULL;
    }
    return rc;
}

int ydoc_load_mem(const char *name, const char *text, size_t len,
                  struct ydoc *doc, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t ydoc;
    int rc;

    memset(doc, 0, sizeof(*doc));
    arena_init(&doc->arena, YDOC_ARENA_LIMIT);
    doc->file = arena_strndup(&doc->arena, name, strlen(name));
    if (doc->file == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        return PC_ENOMEM;
    }
    if (len > YNODE_MAX_FILE) {
        snprintf(err, errlen, "%s: file larger than %zu bytes", name,
                 YNODE_MAX_FILE);
        return PC_ETOOBIG;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return PC_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ydoc)) {
        rc = parser_fail(&parser, doc->file, err, errlen);
        yaml_parser_delete(&parser);
        return rc;
    }
    rc = convert(doc, &ydoc, err, errlen);
    yaml_document_delete(&ydoc);
    if (rc == PC_OK) {
        rc = check_single_document(&parser, doc->file, err, errlen);
    }
    yaml_parser_delete(&parser);
    if (rc != PC_OK) {
        doc->root = NULL;
    }
    return rc;
}

int ydoc_load_string(const char *name, const char *text, struct ydoc *doc,
                     char *err, size_t errlen)
{
    return ydoc_load_mem(name, text, strlen(text), doc, err, errlen);
}

static int read_all(FILE *f, char **data, size_t *len)
{
    struct buf b;
    char chunk[16384];
    size_t n;
    int rc = PC_OK;

    buf_init(&b, YNODE_MAX_FILE + 1);
    while (rc == PC_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = buf_append(&b, chunk, n);
    }
    if (rc == PC_OK && ferror(f)) {
        rc = PC_EIO;
    }
    if (rc == PC_OK) {
        rc = buf_putc(&b, '\0');
    }
    if (rc != PC_OK) {
        buf_free(&b);
        return rc;
    }
    *len = b.len - 1;
    *data = (char *)buf_take(&b, NULL);
    return PC_OK;
}

int ydoc_load_file(const char *path, struct ydoc *doc, char *err,
                   size_t errlen)
{
    FILE *f;
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(doc, 0, sizeof(*doc));
    arena_init(&doc->arena, YDOC_ARENA_LIMIT);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, err_errno(errno));
        return PC_EIO;
    }
    rc = read_all(f, &text, &len);
    fclose(f);
    if (rc == PC_ETOOBIG) {
        snprintf(err, errlen, "%s: file larger than %zu bytes", path,
                 YNODE_MAX_FILE);
        return rc;
    }
    if (rc != PC_OK) {
        snprintf(err, errlen, "%s: cannot read: %s", path, pc_strerror(rc));
        return rc;
    }
    rc = ydoc_load_mem(path, text, len, doc, err, errlen);
    free(text);
    return rc;
}

void ydoc_free(struct ydoc *doc)
{
    if (doc == NULL) {
        return;
    }
    arena_free_all(&doc->arena);
    doc->root = NULL;
    doc->file = NULL;
}

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
    uint32_t i;

    if (map == NULL || map->kind != YNODE_MAP) {
        return NULL;
    }
    for (i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->value, key) == 0) {
            return map->children[i];
        }
    }
    return NULL;
}

int ynode_is_null(const struct ynode *n)
{
    return n == NULL || (n->kind == YNODE_SCALAR && n->is_null);
}

void ynode_path(const struct ynode *n, char *out, size_t len)
{
    const struct ynode *chain[YNODE_MAX_DEPTH + 2];
    size_t depth = 0, used = 0;
    int w;

    if (len == 0) {
        return;
    }
    out[0] = '\0';
    while (n != NULL && n->parent != NULL && depth < YNODE_MAX_DEPTH + 2) {
        chain[depth++] = n;
        n = n->parent;
    }
    while (depth > 0 && used < len) {
        n = chain[--depth];
        if (n->parent->kind == YNODE_SEQ) {
            w = snprintf(out + used, len - used, "[%u]", n->index);
        } else {
            w = snprintf(out + used, len - used, "%s%s", used ? "::" : "",
                         n->pkey ? n->pkey->value : "?");
        }
        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
}
