// libFuzzer's driver, started from a Swift function. SwiftPM links an executable with
// `--defsym main=<module>_main` and -parse-as-library emits no <module>_main, so each
// target defines that function itself (FuzzSupport's fuzzMain) and hands over here.
#include <stddef.h>
#include <stdint.h>

int lstmkit_run_fuzzer(int *argc, char ***argv, int (*test_one_input)(const uint8_t *data, size_t size));
