/* flamepage.c: a flame graph as a standalone HTML page: the SVG inline, a
 * search box, and the flame graph script and style inside the page. */
#include <string.h>

#include "cmd/cmd.h"
#include "core/err.h"
#include "flame/flame.h"

int cmd_flame_page(const struct flame_tree *t, const struct flame_render *r,
                   struct buf *b)
{
    struct flame_render inl = *r;
    int rc;

    inl.standalone = 0;
    rc = buf_append_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                           "<meta charset=\"utf-8\"><title>");
    if (rc == PC_OK && r->title != NULL) {
        rc = flame_xml_escape(b, r->title, strlen(r->title));
    }
    rc = rc == PC_OK ? buf_append_str(b, "</title><style>body{margin:8px;"
                                         "font:14px sans-serif}</style>"
                                         "<style>")
                     : rc;
    rc = rc == PC_OK ? buf_append(b, flame_css, flame_css_len) : rc;
    rc = rc == PC_OK
             ? buf_append_str(b, "</style></head><body>\n<label>Search "
                                 "<input class=\"flame-search\" "
                                 "data-for=\"flame\" type=\"search\" "
                                 "placeholder=\"regular expression\">"
                                 "</label>\n")
             : rc;
    rc = rc == PC_OK ? flame_svg(t, &inl, b) : rc;
    rc = rc == PC_OK ? buf_append_str(b, "<script>\n") : rc;
    rc = rc == PC_OK ? buf_append(b, flame_js, flame_js_len) : rc;
    return rc == PC_OK ? buf_append_str(b, "</script>\n</body></html>\n") : rc;
}
