/* Test driver for the allocation families of issue 16 that the other test drivers do not call
 * (x64, built by tests/CMakeLists.txt with mingw-w64 as families_driver.sys and never run): one
 * call of each with its own tag, so each API's tag, pool type and size positions (docs/pool_apis.md)
 * are checked against a real compiler's argument setup.
 *   ExAllocatePoolWithTagPriority 'TPri'   ExInitializePagedLookasideList 'PgLa' (tag on the stack)
 *   ExInitializeLookasideListEx 'LaEx'     FltAllocatePoolAlignedWithTag 'FltA'
 *   NdisAllocateMemoryWithTagPriority 'NdPr'
 *   NdisAllocateNetBufferPool 'NbPl' (NET_BUFFER_POOL_PARAMETERS.PoolTag, offset 4)
 *   VideoPortAllocatePool 'VidP'
 *   ExAllocatePoolZero 'Zer0': wdm.h's inline form, ExAllocatePoolWithTag or ExAllocatePool2
 *   behind the ExPoolZeroingNativelySupported check; both calls carry the tag. */
typedef __SIZE_TYPE__ SIZE_T;
typedef unsigned int ULONG;
typedef unsigned short USHORT;
typedef unsigned char UCHAR;
typedef unsigned long long ULONG64;

__declspec(dllimport) void* ExAllocatePool2(ULONG64 flags, SIZE_T size, ULONG tag);
__declspec(dllimport) void* ExAllocatePoolWithTag(int pool_type, SIZE_T size, ULONG tag);
__declspec(dllimport) void* ExAllocatePoolWithTagPriority(int pool_type, SIZE_T size, ULONG tag,
                                                          int priority);
__declspec(dllimport) void ExInitializePagedLookasideList(void* list, void* allocate, void* free,
                                                          ULONG flags, SIZE_T size, ULONG tag,
                                                          USHORT depth);
__declspec(dllimport) long ExInitializeLookasideListEx(void* list, void* allocate, void* free,
                                                       int pool_type, ULONG flags, SIZE_T size,
                                                       ULONG tag, USHORT depth);
__declspec(dllimport) void* FltAllocatePoolAlignedWithTag(void* instance, int pool_type,
                                                          SIZE_T size, ULONG tag);
__declspec(dllimport) void* NdisAllocateMemoryWithTagPriority(void* handle, unsigned int length,
                                                              ULONG tag, int priority);
typedef struct {
  UCHAR Type;
  UCHAR Revision;
  USHORT Size;
} NDIS_OBJECT_HEADER;
typedef struct {
  NDIS_OBJECT_HEADER Header;
  ULONG PoolTag;
  ULONG DataSize;
} NET_BUFFER_POOL_PARAMETERS;
__declspec(dllimport) void* NdisAllocateNetBufferPool(void* handle,
                                                      NET_BUFFER_POOL_PARAMETERS* parameters);
__declspec(dllimport) void* VideoPortAllocatePool(void* extension, int pool_type, SIZE_T size,
                                                  ULONG tag);

void* volatile sink;
void* volatile handle;
volatile UCHAR ExPoolZeroingNativelySupported; /* set by ExInitializeDriverRuntime in a real one */
static char lists[2][128];

/* wdm.h's ExAllocatePoolZero, reduced to its two calls. */
static inline void* ExAllocatePoolZero(int pool_type, SIZE_T size, ULONG tag) {
  if (ExPoolZeroingNativelySupported) {
    return ExAllocatePool2(0x40 /* POOL_FLAG_NON_PAGED */, size, tag);
  }
  return ExAllocatePoolWithTag(pool_type | 1024 /* POOL_ZERO_ALLOCATION */, size, tag);
}

long DriverEntry(void* driver, void* registry) {
  (void)driver;
  (void)registry;
  sink = ExAllocatePoolWithTagPriority(512, 48, 0x69725054 /* TPri */, 16);
  ExInitializePagedLookasideList(lists[0], 0, 0, 0, 96, 0x614c6750 /* PgLa */, 0);
  sink = (void*)(SIZE_T)ExInitializeLookasideListEx(lists[1], 0, 0, 1, 0, 112,
                                                    0x7845614c /* LaEx */, 0);
  sink = FltAllocatePoolAlignedWithTag(handle, 1, 4096, 0x41746c46 /* FltA */);
  sink = NdisAllocateMemoryWithTagPriority(handle, 200, 0x7250644e /* NdPr */, 16);
  NET_BUFFER_POOL_PARAMETERS parameters = {{0x80, 1, sizeof parameters}, 0x6c50624e /* NbPl */,
                                           1514};
  sink = NdisAllocateNetBufferPool(handle, &parameters);
  sink = VideoPortAllocatePool(handle, 0, 24, 0x50646956 /* VidP */);
  sink = ExAllocatePoolZero(512, 72, 0x3072655a /* Zer0 */);
  return 0;
}
