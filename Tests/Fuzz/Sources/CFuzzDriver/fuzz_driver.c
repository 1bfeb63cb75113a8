#include "fuzz_driver.h"

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int lstmkit_run_fuzzer(int *argc, char ***argv, int (*test_one_input)(const uint8_t *data, size_t size))
{
    return LLVMFuzzerRunDriver(argc, argv, test_one_input);
}
