/*
 * assert.h: invariants the code relies on, stated in code.
 *
 * PC_ASSERT(cond) checks what must hold whatever the input: ownership
 * (a reference count never falls below zero), lifetimes, state machines.
 * Bad input is never asserted on: it is an error code (err.h).
 *
 * Active in Debug, sanitizer (PROFCOL_SANITIZE) and fuzz (PROFCOL_FUZZ)
 * builds, where CMakeLists.txt defines PROFCOL_ASSERTS=1: a false cond
 * prints "file:line: assertion failed: cond" to stderr and aborts. In
 * release builds cond is type-checked but not evaluated (sizeof), so it
 * costs nothing and must not have side effects the code needs.
 *
 * PC_STATIC_ASSERT(cond, msg) is checked by the compiler in every build
 * (C11 _Static_assert); it may stand wherever a declaration may.
 */
#ifndef PROFCOL_ASSERT_H
#define PROFCOL_ASSERT_H

/* Prints the failure and aborts. Declared in every build: objects built
 * with and without PROFCOL_ASSERTS link together. */
void pc_assert_fail(const char *file, int line, const char *expr)
    __attribute__((noreturn, cold));

#if defined(PROFCOL_ASSERTS) && PROFCOL_ASSERTS
#define PC_ASSERT(cond)                                                       \
    ((cond) ? (void)0 : pc_assert_fail(__FILE__, __LINE__, #cond))
#else
#define PC_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

#define PC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

#endif
