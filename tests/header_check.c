/* The public header compiles alone, pedantic (tests/scope.cmake), and
 * from C++ (header_check.cpp). */
#include "varstore.h"

int main(void)
{
    return vs_dtype_size(VS_FLOAT32) == 4 ? 0 : 1;
}
