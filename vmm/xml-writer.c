#include "vmm/xml-writer.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

void xml_writer_init(struct xml_writer *w)
{
    memset(w, 0, sizeof(*w));
}

void xml_writer_release(struct xml_writer *w)
{
    free(w->out.ptr);
    xml_writer_init(w);
}

char *xml_writer_take(struct xml_writer *w)
{
    assert(w->depth == 0);
    if (!w->out.ptr)
        buf_append(&w->out, "", 0);
    char *out = w->out.ptr;
    xml_writer_init(w);
    return out;
}

void xml_escape_append(struct xml_writer *w, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *ent;
        switch (*s) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&apos;";
            break;
        /* kept as references so parsers do not normalise them away */
        case '\t':
            ent = "&#9;";
            break;
        case '\n':
            ent = "&#10;";
            break;
        case '\r':
            ent = "&#13;";
            break;
        default:
            continue;
        }
        buf_append(&w->out, run, (size_t)(s - run));
        buf_append_str(&w->out, ent);
        run = s + 1;
    }
    buf_append(&w->out, run, (size_t)(s - run));
}

static void indent(struct xml_writer *w)
{
    for (int i = 0; i < w->depth; i++)
        buf_append(&w->out, "  ", 2);
}

/* "<tag a='v' b='w'" from the NULL-terminated pairs in ap. */
static void start_tag(struct xml_writer *w, const char *tag, va_list ap)
{
    indent(w);
    buf_append(&w->out, "<", 1);
    buf_append_str(&w->out, tag);
    const char *name;
    while ((name = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        assert(value);
        buf_append(&w->out, " ", 1);
        buf_append_str(&w->out, name);
        buf_append(&w->out, "='", 2);
        xml_escape_append(w, value);
        buf_append(&w->out, "'", 1);
    }
}

void xml_open(struct xml_writer *w, const char *tag, ...)
{
    assert(w->depth < XML_WRITER_MAX_DEPTH);
    va_list ap;
    va_start(ap, tag);
    start_tag(w, tag, ap);
    va_end(ap);
    buf_append(&w->out, ">\n", 2);
    w->open[w->depth++] = tag;
}

void xml_close(struct xml_writer *w)
{
    assert(w->depth > 0);
    const char *tag = w->open[--w->depth];
    indent(w);
    buf_append(&w->out, "</", 2);
    buf_append_str(&w->out, tag);
    buf_append(&w->out, ">\n", 2);
}

void xml_empty(struct xml_writer *w, const char *tag, ...)
{
    va_list ap;
    va_start(ap, tag);
    start_tag(w, tag, ap);
    va_end(ap);
    buf_append(&w->out, "/>\n", 3);
}

void xml_element(struct xml_writer *w, const char *tag, const char *text, ...)
{
    va_list ap;
    va_start(ap, text);
    start_tag(w, tag, ap);
    va_end(ap);
    buf_append(&w->out, ">", 1);
    xml_escape_append(w, text);
    buf_append(&w->out, "</", 2);
    buf_append_str(&w->out, tag);
    buf_append(&w->out, ">\n", 2);
}

/* Length of the UTF-8 sequence at s and its code point, or 0 if it is malformed
 * (overlong forms, surrogates and values past U+10FFFF included). */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    int n;
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2;
        c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        c &= 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

bool xml_text_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int n = utf8_decode(p, &cp);
        if (n == 0)
            return false;
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xfffe || cp == 0xffff)
            return false;
        p += n;
    }
    return true;
}
