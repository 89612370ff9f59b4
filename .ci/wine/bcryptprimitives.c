/* bcryptprimitives.dll for Wine 8, which lacks it: Rust's standard library (1.78 and later)
 * imports ProcessPrng from it for HashMap seeds and the like, so without this DLL no Windows
 * binary starts under Wine 8. ProcessPrng is served by RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has; Windows' own DLL always reports success, as this does
 * once every byte is filled. Build: x86_64-w64-mingw32-gcc -shared -O2 -o
 * bcryptprimitives.dll bcryptprimitives.c -ladvapi32 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
