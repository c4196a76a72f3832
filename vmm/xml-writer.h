/* A small XML writer for generated documents: elements with attributes and text, indented
 * two spaces per level, every value escaped. Attributes are given as name/value pairs ending
 * in NULL. Callers check their strings first (xml_text_valid); the writer itself never fails. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define XML_WRITER_MAX_DEPTH 16

struct xml_writer {
    struct buf out;
    int depth;
    const char *open[XML_WRITER_MAX_DEPTH]; /* tag names of the open elements */
};

void xml_writer_init(struct xml_writer *w);
void xml_writer_release(struct xml_writer *w);
/* Hands out the document (a NUL-terminated string the caller frees); all elements must be closed.
 */
char *xml_writer_take(struct xml_writer *w);

/* <tag a='v'...> and one level deeper; `tag` must outlive the element (a literal). */
void xml_open(struct xml_writer *w, const char *tag, ...) __attribute__((sentinel));
/* </tag> for the innermost open element. */
void xml_close(struct xml_writer *w);
/* <tag a='v'.../> */
void xml_empty(struct xml_writer *w, const char *tag, ...) __attribute__((sentinel));
/* <tag a='v'...>text</tag> */
void xml_element(struct xml_writer *w, const char *tag, const char *text, ...)
    __attribute__((sentinel));

/* Appends s with '"<>& escaped as entities and tab, newline, CR as character references. */
void xml_escape_append(struct xml_writer *w, const char *s);

/* True when s is valid UTF-8 holding only characters XML 1.0 allows (no control characters
 * other than tab, newline and carriage return). */
bool xml_text_valid(const char *s);
