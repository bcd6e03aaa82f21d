/*
 * Recognise JSONL lines that are already in canonical form, the bytes msgspec's encoder writes for
 * a record of one of the common formats, and measure them without building Python objects.
 *
 * A canonical line has its keys in the format's order, no unknown keys and no whitespace between
 * tokens. Its strings are escaped exactly as msgspec escapes them: \" \\ \b \t \n \f \r, other
 * control characters as lower-case \u00XX, and everything else as UTF-8. Such a line is its own normalised
 * record, so a valid one needs no decoding: the line is what training reads and what duplicates
 * are found on. Any other line, valid or not, is left to the msgspec path, which names problems.
 * So this code only ever accepts: a line it accepts would pass every check of the Python path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { KIND_MESSAGES = 1, KIND_PROMPT_COMPLETION = 2, KIND_PREFERENCE = 3 };
enum { ROLE_NONE = -1, ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL };

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

/* One string value: its code points, and the raw bytes of its text without leading and trailing
 * whitespace (str.strip()). An empty stripped span means the string is blank. */
typedef struct {
    Py_ssize_t chars;
    const unsigned char *trim_start;
    const unsigned char *trim_stop;
} Text;

/* The code points for which Python's str.isspace() is true. */
static int
is_space(uint32_t c)
{
    if (c < 0x80) {
        return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
    }
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static int
hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Decode one well-formed UTF-8 sequence (RFC 3629: no overlong forms, surrogates or values above
 * U+10FFFF) at p. Return its length, or 0 when the bytes are not one. */
static int
utf8_sequence(const unsigned char *p, const unsigned char *end, uint32_t *code_point)
{
    unsigned char b = p[0];
    int length;
    uint32_t value;
    unsigned char low = 0x80, high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
        length = 2;
        value = b & 0x1f;
    }
    else if (b >= 0xe0 && b <= 0xef) {
        length = 3;
        value = b & 0x0f;
        if (b == 0xe0) {
            low = 0xa0;
        }
        else if (b == 0xed) {
            high = 0x9f;
        }
    }
    else if (b >= 0xf0 && b <= 0xf4) {
        length = 4;
        value = b & 0x07;
        if (b == 0xf0) {
            low = 0x90;
        }
        else if (b == 0xf4) {
            high = 0x8f;
        }
    }
    else {
        return 0;
    }
    if (end - p < length || p[1] < low || p[1] > high) {
        return 0;
    }
    value = (value << 6) | (p[1] & 0x3f);
    for (int index = 2; index < length; index++) {
        if ((p[index] & 0xc0) != 0x80) {
            return 0;
        }
        value = (value << 6) | (p[index] & 0x3f);
    }
    *code_point = value;
    return length;
}

/* Decode one canonical escape sequence at p (which is a backslash). Return its length, or 0 when
 * msgspec would have written the character another way. */
static int
canonical_escape(const unsigned char *p, const unsigned char *end, uint32_t *code_point)
{
    if (end - p < 2) {
        return 0;
    }
    switch (p[1]) {
    case '"': *code_point = '"'; return 2;
    case '\\': *code_point = '\\'; return 2;
    case 'b': *code_point = 0x08; return 2;
    case 't': *code_point = 0x09; return 2;
    case 'n': *code_point = 0x0a; return 2;
    case 'f': *code_point = 0x0c; return 2;
    case 'r': *code_point = 0x0d; return 2;
    case 'u':
        break;
    default:
        return 0;
    }
    if (end - p < 6 || p[2] != '0' || p[3] != '0' || (p[4] != '0' && p[4] != '1')) {
        return 0;
    }
    int low = hex_digit(p[5]);
    if (low < 0) {
        return 0;
    }
    uint32_t value = (uint32_t)((p[4] - '0') * 16 + low);
    if (value == 0x08 || value == 0x09 || value == 0x0a || value == 0x0c || value == 0x0d) {
        return 0;
    }
    *code_point = value;
    return 6;
}

/* PLAIN[b] is 1 for the bytes that stand for themselves: printable ASCII other than the quote and
 * the backslash. The space is the only whitespace among them. */
static unsigned char PLAIN[256];

static void
init_plain(void)
{
    for (int b = 0x20; b < 0x80; b++) {
        PLAIN[b] = b != '"' && b != '\\';
    }
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Return the first byte at or after p that is not PLAIN, 16 bytes at a time, or a position less
 * than 16 bytes before end. As signed bytes, everything from 0x80 up is negative, so one compare
 * finds both control characters and the bytes of multi-byte characters. */
static inline const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i bytes = _mm_loadu_si128((const __m128i *)p);
        __m128i stop = _mm_or_si128(_mm_cmplt_epi8(bytes, space),
                                    _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
        int mask = _mm_movemask_epi8(stop);
        if (mask != 0) {
            return p + __builtin_ctz((unsigned int)mask);
        }
        p += 16;
    }
    return p;
}
#else
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Without SSE2: skip whole 8-byte blocks of PLAIN bytes and return the start of the first block that
 * is not all PLAIN, which the caller then reads byte by byte. A block is all PLAIN when no byte has
 * its high bit set, none is below 0x20, and none equals the quote or the backslash (the zero-byte
 * test on an exclusive or). */
static inline const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 8) {
        uint64_t v, quote, backslash;
        memcpy(&v, p, sizeof v);
        quote = v ^ (ONES * '"');
        backslash = v ^ (ONES * '\\');
        uint64_t found = (v & HIGHS) | ((v - ONES * 0x20) & ~v & HIGHS) | ((quote - ONES) & ~quote & HIGHS) |
                         ((backslash - ONES) & ~backslash & HIGHS);
        if (found != 0) {
            return p;
        }
        p += 8;
    }
    return p;
}
#endif

/* Read a canonical string whose opening quote is just before c->p, and move past its closing quote.
 * Return 0, or -1 when the string is not canonical or not valid JSON. */
static int
read_string(Cursor *c, Text *text)
{
    const unsigned char *p = c->p, *end = c->end;
    Py_ssize_t chars = 0;
    const unsigned char *trim_start = NULL, *trim_stop = NULL;
    while (p < end) {
        const unsigned char *run = p;
        p = skip_plain(p, end);
        while (p < end && PLAIN[*p]) {
            p++;
        }
        if (p > run) {
            chars += p - run;
            const unsigned char *last = p;
            while (last > run && last[-1] == ' ') {
                last--;
            }
            if (last > run) {
                if (trim_start == NULL) {
                    trim_start = run;
                    while (*trim_start == ' ') {
                        trim_start++;
                    }
                }
                trim_stop = last;
            }
            if (p == end) {
                break;
            }
        }
        unsigned char b = *p;
        if (b == '"') {
            text->chars = chars;
            text->trim_start = trim_start ? trim_start : p;
            text->trim_stop = trim_start ? trim_stop : p;
            c->p = p + 1;
            return 0;
        }
        if (b >= 0xc3 && b <= 0xec) {
            /* A run of the multi-byte characters most text uses (Latin letters with accents,
             * Cyrillic, kana, CJK). C3 to DF lead a valid 2-byte sequence with any continuation
             * byte, and E3 to EC a valid 3-byte sequence with any two. None of these characters is
             * whitespace except U+3000 (E3 80 80), which is left to the general path below. */
            const unsigned char *start = p;
            for (;;) {
                unsigned char lead = *p;
                if (lead >= 0xc3 && lead <= 0xdf && end - p >= 2 && (p[1] & 0xc0) == 0x80) {
                    p += 2;
                }
                else if (lead >= 0xe3 && lead <= 0xec && end - p >= 3 && (p[1] & 0xc0) == 0x80 &&
                         (p[2] & 0xc0) == 0x80 && (lead != 0xe3 || p[1] >= 0x81 || p[2] != 0x80)) {
                    p += 3;
                }
                else {
                    break;
                }
                chars++;
                if (p == end || *p < 0xc3 || *p > 0xec) {
                    break;
                }
            }
            if (p > start) {
                if (trim_start == NULL) {
                    trim_start = start;
                }
                trim_stop = p;
                continue;
            }
        }
        uint32_t code_point;
        int length;
        if (b == '\\') {
            length = canonical_escape(p, end, &code_point);
        }
        else if (b < 0x20) {
            length = 0; /* a raw control character is not valid JSON */
        }
        else {
            length = utf8_sequence(p, end, &code_point);
        }
        if (length == 0) {
            return -1;
        }
        if (!is_space(code_point)) {
            if (trim_start == NULL) {
                trim_start = p;
            }
            trim_stop = p + length;
        }
        chars++;
        p += length;
    }
    return -1;
}

static int
expect(Cursor *c, const char *literal, size_t length)
{
    if ((size_t)(c->end - c->p) < length || memcmp(c->p, literal, length) != 0) {
        return -1;
    }
    c->p += length;
    return 0;
}

#define EXPECT(c, literal) expect((c), (literal), sizeof(literal) - 1)

static int
is_blank(const Text *text)
{
    return text->trim_start == text->trim_stop;
}

/* Return the role, or ROLE_NONE for any other string. */
static int
read_role(Cursor *c)
{
    static const char *const names[] = {"system", "user", "assistant", "tool"};
    const unsigned char *start = c->p;
    Text text;
    if (read_string(c, &text) != 0) {
        return ROLE_NONE;
    }
    size_t length = (size_t)(c->p - 1 - start);
    for (int role = ROLE_SYSTEM; role <= ROLE_TOOL; role++) {
        if (strlen(names[role]) == length && memcmp(start, names[role], length) == 0) {
            return role;
        }
    }
    return ROLE_NONE;
}

/* Whether `role` may follow `previous`: a system message only opens a conversation, user and
 * assistant alternate, and tool results follow an assistant turn. */
static int
role_allowed(int previous, int role)
{
    switch (previous) {
    case ROLE_NONE: return role == ROLE_SYSTEM || role == ROLE_USER;
    case ROLE_SYSTEM: return role == ROLE_USER;
    case ROLE_USER: return role == ROLE_ASSISTANT;
    case ROLE_ASSISTANT: return role == ROLE_USER || role == ROLE_TOOL;
    default: return role == ROLE_ASSISTANT || role == ROLE_TOOL;
    }
}

/* {"messages":[{"role":...,"content":...},...]}: a conversation that ends with an assistant turn. */
static int
read_messages(Cursor *c, Py_ssize_t *prompt, Py_ssize_t *total)
{
    int previous = ROLE_NONE;
    Py_ssize_t chars = 0, prompt_chars = 0;
    if (EXPECT(c, "{\"messages\":[") != 0) {
        return -1;
    }
    for (;;) {
        Text content;
        if (EXPECT(c, "{\"role\":\"") != 0) {
            return -1;
        }
        int role = read_role(c);
        if (role == ROLE_NONE || !role_allowed(previous, role)) {
            return -1;
        }
        if (EXPECT(c, ",\"content\":\"") != 0 || read_string(c, &content) != 0 || is_blank(&content) ||
            EXPECT(c, "}") != 0) {
            return -1;
        }
        if (role == ROLE_ASSISTANT) {
            prompt_chars = chars;
        }
        chars += content.chars;
        previous = role;
        if (EXPECT(c, ",") != 0) {
            break;
        }
    }
    if (EXPECT(c, "]}") != 0 || previous != ROLE_ASSISTANT) {
        return -1;
    }
    *prompt = prompt_chars;
    *total = chars;
    return 0;
}

/* {"prompt":...,"completion":...} with neither blank. */
static int
read_prompt_completion(Cursor *c, Py_ssize_t *prompt, Py_ssize_t *total)
{
    Text first, second;
    if (EXPECT(c, "{\"prompt\":\"") != 0 || read_string(c, &first) != 0 || is_blank(&first) ||
        EXPECT(c, ",\"completion\":\"") != 0 || read_string(c, &second) != 0 || is_blank(&second) ||
        EXPECT(c, "}") != 0) {
        return -1;
    }
    *prompt = first.chars;
    *total = first.chars + second.chars;
    return 0;
}

/* {"prompt":...,"chosen":...,"rejected":...} with none blank, and chosen and rejected different once stripped. */
static int
read_preference(Cursor *c, Py_ssize_t *prompt, Py_ssize_t *total)
{
    Text text, chosen, rejected;
    if (EXPECT(c, "{\"prompt\":\"") != 0 || read_string(c, &text) != 0 || is_blank(&text) ||
        EXPECT(c, ",\"chosen\":\"") != 0 || read_string(c, &chosen) != 0 || is_blank(&chosen) ||
        EXPECT(c, ",\"rejected\":\"") != 0 || read_string(c, &rejected) != 0 || is_blank(&rejected) ||
        EXPECT(c, "}") != 0) {
        return -1;
    }
    /* Each character has one canonical spelling, so the stripped texts are equal exactly when
     * their bytes are. */
    Py_ssize_t length = chosen.trim_stop - chosen.trim_start;
    if (length == rejected.trim_stop - rejected.trim_start &&
        memcmp(chosen.trim_start, rejected.trim_start, (size_t)length) == 0) {
        return -1;
    }
    *prompt = text.chars;
    *total = text.chars + (chosen.chars > rejected.chars ? chosen.chars : rejected.chars);
    return 0;
}

static int
append_size(PyObject *list, Py_ssize_t value)
{
    PyObject *number = PyLong_FromSsize_t(value);
    if (number == NULL) {
        return -1;
    }
    int result = PyList_Append(list, number);
    Py_DECREF(number);
    return result;
}

PyDoc_STRVAR(scan_doc,
"scan(data, start, stop, kind) -> (offset, ends, prompt_characters, characters)\n\n"
"Accept canonical, valid records of format `kind` on the lines of data[start:stop], from the first\n"
"line on, stopping at the first line that is not one (or that has no newline). Returns the offset\n"
"where it stopped, and for each accepted line the offset after its newline, its prompt characters\n"
"and its characters, as the format's Python check counts them.");

static PyObject *
scan(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, stop;
    int kind;
    if (!PyArg_ParseTuple(args, "y*nni", &view, &start, &stop, &kind)) {
        return NULL;
    }
    int (*read_record)(Cursor *, Py_ssize_t *, Py_ssize_t *) = NULL;
    switch (kind) {
    case KIND_MESSAGES: read_record = read_messages; break;
    case KIND_PROMPT_COMPLETION: read_record = read_prompt_completion; break;
    case KIND_PREFERENCE: read_record = read_preference; break;
    }
    if (read_record == NULL || start < 0 || start > stop || stop > view.len) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError, "invalid kind %d or range [%zd, %zd) of %zd bytes", kind, start, stop,
                     view.len);
        return NULL;
    }
    PyObject *ends = PyList_New(0), *prompts = PyList_New(0), *totals = PyList_New(0);
    if (ends == NULL || prompts == NULL || totals == NULL) {
        goto error;
    }
    const unsigned char *base = (const unsigned char *)view.buf;
    Py_ssize_t offset = start;
    while (offset < stop) {
        Cursor cursor = {base + offset, base + stop};
        Py_ssize_t prompt, total;
        if (read_record(&cursor, &prompt, &total) != 0 || EXPECT(&cursor, "\n") != 0) {
            break;
        }
        offset = cursor.p - base;
        if (append_size(ends, offset) || append_size(prompts, prompt) || append_size(totals, total)) {
            goto error;
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("nNNN", offset, ends, prompts, totals);

error:
    PyBuffer_Release(&view);
    Py_XDECREF(ends);
    Py_XDECREF(prompts);
    Py_XDECREF(totals);
    return NULL;
}

PyDoc_STRVAR(add_digests_doc,
"add_digests(table, digests) -> repeated positions\n\n"
"Add 64-bit digests to an open-addressing table (a writable buffer of uint64, a power of two\n"
"long, with 0 for an empty slot and room for every digest), probing linearly as\n"
"DigestSet.add_all does. Returns the positions in `digests` of those already present.");

static PyObject *
add_digests(PyObject *module, PyObject *args)
{
    Py_buffer view;
    PyObject *table_object, *digests;
    if (!PyArg_ParseTuple(args, "OO!", &table_object, &PyList_Type, &digests)) {
        return NULL;
    }
    if (PyObject_GetBuffer(table_object, &view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) != 0) {
        return NULL;
    }
    Py_ssize_t slots = view.len / (Py_ssize_t)sizeof(uint64_t);
    if (view.itemsize != (Py_ssize_t)sizeof(uint64_t) || view.format == NULL || strcmp(view.format, "Q") != 0 ||
        slots == 0 || (slots & (slots - 1)) != 0 || PyList_GET_SIZE(digests) >= slots) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError,
                        "the table must be an array('Q') of a power of two slots, more than the digests");
        return NULL;
    }
    uint64_t *table = (uint64_t *)view.buf, mask = (uint64_t)slots - 1;
    PyObject *repeated = PyList_New(0);
    if (repeated == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    for (Py_ssize_t position = 0; position < PyList_GET_SIZE(digests); position++) {
        uint64_t value = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(digests, position));
        if (value == (uint64_t)-1 && PyErr_Occurred()) {
            goto error;
        }
        value = value ? value : 1; /* 0 marks an empty slot */
        uint64_t slot = value & mask;
        Py_ssize_t probes = 0;
        while (table[slot] != 0 && table[slot] != value) {
            slot = (slot + 1) & mask;
            if (++probes == slots) {
                PyErr_SetString(PyExc_ValueError, "the digest table is full; grow it before adding");
                goto error;
            }
        }
        if (table[slot] == value) {
            if (append_size(repeated, position) != 0) {
                goto error;
            }
        }
        else {
            table[slot] = value;
        }
    }
    PyBuffer_Release(&view);
    return repeated;

error:
    PyBuffer_Release(&view);
    Py_DECREF(repeated);
    return NULL;
}

PyDoc_STRVAR(partition_doc,
"partition(items, digests, seed, threshold) -> (train, evaluation)\n\n"
"Split items by the split keys of their 64-bit digests, as keiko.datasets.output.partition does:\n"
"an item goes to evaluation when the top half of (digest ^ seed) times 0x9E3779B97F4A7C15,\n"
"modulo 2**64, is below threshold.");

static PyObject *
partition(PyObject *module, PyObject *args)
{
    PyObject *items, *digests, *seed_object, *threshold_object;
    if (!PyArg_ParseTuple(args, "O!O!OO", &PyList_Type, &items, &PyList_Type, &digests, &seed_object,
                          &threshold_object)) {
        return NULL;
    }
    /* Both must fit 64 bits unsigned: a value that does not raises OverflowError, never wraps. */
    uint64_t seed = PyLong_AsUnsignedLongLong(seed_object);
    if (seed == (uint64_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    uint64_t threshold = PyLong_AsUnsignedLongLong(threshold_object);
    if (threshold == (uint64_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(items);
    if (PyList_GET_SIZE(digests) != count) {
        PyErr_SetString(PyExc_ValueError, "items and digests differ in length");
        return NULL;
    }
    PyObject *train = PyList_New(0), *evaluation = PyList_New(0);
    if (train == NULL || evaluation == NULL) {
        goto error;
    }
    for (Py_ssize_t position = 0; position < count; position++) {
        uint64_t value = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(digests, position));
        if (value == (uint64_t)-1 && PyErr_Occurred()) {
            goto error;
        }
        uint64_t key = ((value ^ seed) * 0x9E3779B97F4A7C15ULL) >> 32;
        if (PyList_Append(key < threshold ? evaluation : train, PyList_GET_ITEM(items, position)) != 0) {
            goto error;
        }
    }
    return Py_BuildValue("NN", train, evaluation);

error:
    Py_XDECREF(train);
    Py_XDECREF(evaluation);
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"add_digests", add_digests, METH_VARARGS, add_digests_doc},
    {"partition", partition, METH_VARARGS, partition_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_accelerator",
    "Accept canonical JSONL records of the common formats without decoding them.", -1, methods,
};

PyMODINIT_FUNC
PyInit__accelerator(void)
{
    init_plain();
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(created, "MESSAGES", KIND_MESSAGES) ||
        PyModule_AddIntConstant(created, "PROMPT_COMPLETION", KIND_PROMPT_COMPLETION) ||
        PyModule_AddIntConstant(created, "PREFERENCE", KIND_PREFERENCE)) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
