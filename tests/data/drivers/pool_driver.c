/* Test driver for the call-site scanner (built by tests/CMakeLists.txt with mingw-w64, never run):
 * one call of each pool API the real sample drivers do not use, and a wrapper MyAlloc(size, tag)
 * called with two literal tags, itself wrapped once more (depth 2). */
typedef unsigned long long SIZE_T;
typedef unsigned int ULONG;
typedef unsigned short USHORT;
typedef unsigned long long ULONG64;

__declspec(dllimport) void* ExAllocatePool2(ULONG64 flags, SIZE_T size, ULONG tag);
__declspec(dllimport) void* ExAllocatePoolWithTag(int pool_type, SIZE_T size, ULONG tag);
__declspec(dllimport) void* ExAllocatePoolWithQuotaTag(int pool_type, SIZE_T size, ULONG tag);
__declspec(dllimport) void ExInitializeNPagedLookasideList(void* list, void* allocate, void* free,
                                                           ULONG flags, SIZE_T size, ULONG tag,
                                                           USHORT depth);
__declspec(dllimport) void ExFreePoolWithTag(void* p, ULONG tag);

static char lookaside[128];
void* volatile sink;

__attribute__((noinline)) void* MyAlloc(SIZE_T size, ULONG tag) {
  return ExAllocatePoolWithTag(512 /* NonPagedPoolNx */, size, tag);
}

__attribute__((noinline)) void* MyAllocTwice(ULONG tag, SIZE_T size) {
  sink = MyAlloc(size, tag);
  return MyAlloc(size + 1, tag);
}

long DriverEntry(void* driver, void* registry) {
  (void)driver;
  (void)registry;
  sink = ExAllocatePool2(0x40 /* POOL_FLAG_NON_PAGED */, 100, 'P2ts'); /* "st2P" */
  sink = ExAllocatePoolWithQuotaTag(1 /* PagedPool */, 200, 'tQts');   /* "stQt" */
  ExInitializeNPagedLookasideList(lookaside, 0, 0, 0, 48, 'sLts', 0);  /* "stLs" */
  sink = MyAlloc(64, 'AWts');                                          /* "stWA" */
  sink = MyAlloc(32, 'BWts');                                          /* "stWB" */
  sink = MyAllocTwice('CWts', 16);                                     /* "stWC" */
  ExFreePoolWithTag(sink, 'BWts');
  return 0;
}
