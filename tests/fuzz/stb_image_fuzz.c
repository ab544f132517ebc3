/* stb_image compiled into the image-folder harness from the system's header (the same version as the
 * libstb the library links), so that the decoders the folder loader calls are instrumented: libFuzzer
 * sees their coverage and the sanitizers check their memory accesses. Linked into the harness, these
 * definitions take the place of libstb's. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
