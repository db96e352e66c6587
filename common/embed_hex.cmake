# Included by the embed scripts (herald_embed): embed_hex(FILE VAR) sets VAR to
# FILE's bytes as the body of a C string literal ("\xNN" escapes), broken
# every 64 bytes so compilers stay happy.
function(embed_hex file var)
  file(READ ${file} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" esc "${hex}")
  string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){64})" "\\1\"\n\"" esc "${esc}")
  set(${var} "${esc}" PARENT_SCOPE)
endfunction()
