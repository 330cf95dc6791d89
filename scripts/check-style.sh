#!/usr/bin/env bash
# check-style.sh: the style checks `make test` runs. Each problem is printed
# as "file:line: reason"; the exit status is 1 when there is any.
#   scripts/check-style.sh [CHECK...]    run the named checks (default: all)
#   scripts/check-style.sh --list-banned the banned functions and what to use
# Checks:
#   format    clang-format --dry-run -Werror over the C sources (.clang-format)
#   banned    no call to a banned function (BANNED below)
#   includes  #include "..." only goes down the layers (LAYERS below)
#   registry  component/registry.c names exactly the component folders
#   docs      every component key is documented (tests/integration/test_docs_keys.sh)
# Switches (environment):
#   CHECK_FORMAT=0|1  the format check (on; scripts/format.sh fixes what it
#                     finds)
#   CHECK_DOCS=0|1    the docs check (needs a built profcol: PROFCOL_BIN, or
#                     build/profcol); skipped with a note when there is none
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${CHECK_FORMAT:=1}"
: "${CHECK_DOCS:=1}"

# Banned functions: name|where|why, and what to use instead. "where" is
# "all", or "daemon" for code outside tests/ and bench/ (the tests drive
# openssl through system(), which the daemon never should).
BANNED=(
    "gets|all|cannot bound its write: use fgets"
    "strcpy|all|unbounded copy: use memcpy with a checked length, or snprintf"
    "strcat|all|unbounded append: use struct buf (core/buf.h) or snprintf"
    "strncpy|all|may leave no NUL and pads with zeros: use memcpy with a checked length, or snprintf"
    "strncat|all|error-prone bound: use struct buf (core/buf.h) or snprintf"
    "stpcpy|all|unbounded copy: use memcpy with a checked length"
    "sprintf|all|unbounded write: use snprintf"
    "vsprintf|all|unbounded write: use vsnprintf"
    "strtok|all|hidden global state, not thread-safe: use strtok_r"
    "atoi|all|no error detection: use strtol with an end pointer and errno"
    "atol|all|no error detection: use strtol with an end pointer and errno"
    "atoll|all|no error detection: use strtoll with an end pointer and errno"
    "atof|all|no error detection: use strtod with an end pointer and errno"
    "gmtime|all|static result, not thread-safe: use gmtime_r"
    "localtime|all|static result, not thread-safe: use localtime_r"
    "ctime|all|static result, not thread-safe: use strftime with gmtime_r"
    "asctime|all|static result, not thread-safe: use strftime with gmtime_r"
    "strerror|all|may share a buffer between threads: use err_errno (core/err.h)"
    "inet_ntoa|all|static result, not thread-safe: use inet_ntop"
    "gethostbyname|all|static result, not thread-safe: use getaddrinfo"
    "tmpnam|all|name races with its creation: use mkstemp or mkdtemp"
    "tempnam|all|name races with its creation: use mkstemp or mkdtemp"
    "mktemp|all|name races with its creation: use mkstemp or mkdtemp"
    "rand|all|shared state, weak: use a local generator seeded explicitly"
    "srand|all|shared state, weak: use a local generator seeded explicitly"
    "alloca|all|unbounded stack use: use a fixed array or the heap"
    "system|daemon|runs a shell: the daemon starts no commands"
    "popen|daemon|runs a shell: the daemon starts no commands"
)

# Include layers, lowest first; a file may include its own folder or a
# lower layer. Folders in one layer may not include each other. Components
# (receivers/X, processors/X, exporters/X) are each their own folder, so
# none includes another. Generated protobuf-c headers (*.pb-c.h) count as
# the codec layer. tests/ and bench/ sit above everything.
LAYERS=(
    "core"
    "model"
    "flame"
    "codec"
    "config telemetry"
    "component"
    "exporterhelper"
    "net"
    "discovery"
    "ui"
    "pipeline"
    "receivers processors exporters"
    "cmd"
)
# Folders whose C code the static checks read (the format check's list).
SRC_DIRS=(core model flame codec config telemetry component exporterhelper net discovery ui
          pipeline receivers processors exporters cmd tests bench)

if [ "${1:-}" = "--list-banned" ]; then
    printf '%-14s %-7s %s\n' FUNCTION WHERE "WHY / USE INSTEAD"
    for b in "${BANNED[@]}"; do
        IFS='|' read -r name where why <<<"$b"
        printf '%-14s %-7s %s\n' "$name" "$where" "$why"
    done
    exit 0
fi

checks=("$@")
if [ ${#checks[@]} -eq 0 ]; then
    checks=(format banned includes registry docs)
fi

py=/usr/bin/python3
command -v "$py" >/dev/null 2>&1 || py=python3

# banned, includes and registry read the sources in one Python pass.
static_checks()
{
    (
        cd "$root" &&
            BANNED="$(printf '%s\n' "${BANNED[@]}")" \
                LAYERS="$(printf '%s\n' "${LAYERS[@]}")" \
                SRC_DIRS="${SRC_DIRS[*]}" \
                "$py" - "$@" <<'PY'
import os
import re
import subprocess
import sys

checks = set(sys.argv[1:])
problems = []


def report(path, line, reason):
    problems.append("%s:%d: %s" % (path, line, reason))


def source_files():
    dirs = os.environ["SRC_DIRS"].split()
    try:
        out = subprocess.run(["git", "ls-files", "--"] +
                             ["%s/*.c" % d for d in dirs] +
                             ["%s/*.h" % d for d in dirs],
                             capture_output=True, text=True, check=True)
        files = out.stdout.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d in dirs:
            for base, _, names in os.walk(d):
                files += [os.path.join(base, n) for n in names
                          if n.endswith((".c", ".h"))]
    return sorted(f for f in files
                  if not f.endswith((".pb-c.c", ".pb-c.h")) and
                  os.path.isfile(f))


LEXEMES = re.compile(r"""/\*.*?(?:\*/|\Z)|//[^\n]*|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?""", re.S)


def blank(m):
    """A comment or literal as spaces, its newlines and quotes kept."""
    s = m.group(0)
    if s[0] in "\"'":
        return s[0] + re.sub(r"[^\n]", " ", s[1:-1]) + s[-1]
    return re.sub(r"[^\n]", " ", s)


def strip_code(text):
    """text with comments and the insides of string and character
    literals blanked (newlines kept, so line numbers stay)."""
    return LEXEMES.sub(blank, text)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


BANNED = {}
for entry in os.environ["BANNED"].splitlines():
    name, where, why = entry.split("|", 2)
    BANNED[name] = (where, why)
# A call: the name as a word, not a member (x.name, x->name).
BANNED_CALL = re.compile(r"(?<![\w.>])(%s)\s*\(" % "|".join(
    re.escape(n) for n in sorted(BANNED, key=len, reverse=True)))


def check_banned(path, code):
    daemon = not path.startswith(("tests/", "bench/"))
    for m in BANNED_CALL.finditer(code):
        where, why = BANNED[m.group(1)]
        if where == "all" or daemon:
            report(path, line_of(code, m.start()),
                   "%s() is banned: %s" % (m.group(1), why))


def layer_ranks():
    ranks = {}
    for rank, line in enumerate(os.environ["LAYERS"].splitlines()):
        for folder in line.split():
            ranks[folder] = rank
    return ranks


RANKS = layer_ranks()
COMPONENT_KINDS = ("receivers", "processors", "exporters")


def unit_of(path):
    """(folder, rank) of a file or included header: receivers/X is its
    own folder; None when the path is not profcol's."""
    parts = path.split("/")
    if path.endswith(".pb-c.h"):
        return ("(generated protobuf-c)", RANKS["codec"])
    if parts[0] not in RANKS or len(parts) < 2:
        return None
    if parts[0] in COMPONENT_KINDS and len(parts) >= 3:
        return ("/".join(parts[:2]), RANKS[parts[0]])
    return (parts[0], RANKS[parts[0]])


def check_includes(path, text, code):
    own = unit_of(path)
    if own is None:  # tests/, bench/: above every layer
        return
    code_lines = code.split("\n")
    for no, line in enumerate(text.split("\n"), 1):
        m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
        if not m or not code_lines[no - 1].lstrip().startswith("#"):
            continue
        inc = m.group(1)
        if "/" not in inc:
            continue  # next to the including file: its own folder
        target = unit_of(inc)
        if target is None or target[0] == own[0]:
            continue
        if own[0] == "core":
            report(path, no, 'core/ includes only core/, not "%s"' % inc)
        elif target[1] > own[1]:
            report(path, no, '%s/ may not include "%s": a higher layer'
                   % (own[0], inc))
        elif target[1] == own[1]:
            what = ("another component" if own[0].startswith(
                COMPONENT_KINDS) and target[0].startswith(COMPONENT_KINDS)
                else "a folder of the same layer")
            report(path, no, '%s/ may not include "%s": %s'
                   % (own[0], inc, what))


def check_registry():
    reg = "component/registry.c"
    try:
        text = open(reg, encoding="utf-8").read()
    except OSError as e:
        report(reg, 1, "cannot read: %s" % e)
        return
    code = strip_code(text)
    m = re.search(r"\bbuiltin\s*\[\s*\]\s*=\s*\{(.*?)\};", code, re.S)
    if not m:
        report(reg, 1, "no builtin[] list of factories")
        return
    listed = {}
    for f in re.finditer(r"&\s*(\w+)_factory\b", m.group(1)):
        listed[f.group(1)] = line_of(code, m.start(1) + f.start())
    folders = {}
    for kind in COMPONENT_KINDS:
        if not os.path.isdir(kind):
            continue
        for name in sorted(os.listdir(kind)):
            d = os.path.join(kind, name)
            if os.path.isdir(d) and any(n.endswith(".c")
                                        for n in os.listdir(d)):
                folders["%s_%s" % (name, kind[:-1])] = d
    for sym, d in sorted(folders.items()):
        if sym not in listed:
            report(reg, 1, "%s/ has no %s_factory in builtin[]" % (d, sym))
            continue
        defined = False
        for n in sorted(os.listdir(d)):
            if n.endswith(".c") and re.search(
                    r"\bcomponent_factory\s+%s_factory\s*=" % sym,
                    strip_code(open(os.path.join(d, n),
                                    encoding="utf-8").read())):
                defined = True
        if not defined:
            report(reg, listed[sym], "%s_factory is not defined in %s/"
                   % (sym, d))
    for sym, no in sorted(listed.items()):
        if sym not in folders:
            report(reg, no, "%s_factory names no folder (want "
                   "receivers|processors|exporters/<type>/)" % sym)


for path in source_files():
    text = open(path, encoding="utf-8", errors="replace").read()
    code = strip_code(text)
    if "banned" in checks:
        check_banned(path, code)
    if "includes" in checks:
        check_includes(path, text, code)
if "registry" in checks:
    check_registry()

def order(p):
    path, line, _ = p.split(":", 2)
    return (path, int(line))


for p in sorted(problems, key=order):
    print(p)
sys.exit(1 if problems else 0)
PY
    )
}

format_check()
{
    if [ "$CHECK_FORMAT" != 1 ]; then
        echo "check-style: format: off (CHECK_FORMAT=1 turns it on)" >&2
        return 0
    fi
    "$root/scripts/format.sh" --check
}

docs_check()
{
    local bin=${PROFCOL_BIN:-$root/build/profcol}

    if [ "$CHECK_DOCS" != 1 ]; then
        echo "check-style: docs: off (CHECK_DOCS=0)" >&2
        return 0
    fi
    if [ ! -x "$bin" ]; then
        echo "check-style: docs: skipped, no profcol binary (set PROFCOL_BIN)" >&2
        return 0
    fi
    PROFCOL_BIN=$bin PROFCOL_SOURCE_DIR=$root \
        bash "$root/tests/integration/test_docs_keys.sh"
}

rc=0
static=()
for c in "${checks[@]}"; do
    case "$c" in
    format) format_check || rc=1 ;;
    banned | includes | registry) static+=("$c") ;;
    docs) docs_check || rc=1 ;;
    *)
        echo "check-style: unknown check '$c' (format banned includes registry docs)" >&2
        exit 2
        ;;
    esac
done
if [ ${#static[@]} -gt 0 ]; then
    static_checks "${static[@]}" || rc=1
fi
if [ $rc -ne 0 ]; then
    echo "check-style: FAILED (checks: ${checks[*]})" >&2
else
    echo "check-style: passed (checks: ${checks[*]})" >&2
fi
exit $rc
