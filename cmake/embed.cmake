# embed.cmake: a file as a C array, so assets ship inside the binary.
#   cmake -DIN=file -DOUT=file.c -DSYM=name -P cmake/embed.cmake
# Writes `const unsigned char SYM[]` (NUL-terminated, for convenience) and
# `const size_t SYM_len` (the file's size, without the NUL).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR n "${nhex} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n"
  "#include <stddef.h>\n"
  "const unsigned char ${SYM}[] = {\n${bytes}0x00};\n"
  "const size_t ${SYM}_len = ${n};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
