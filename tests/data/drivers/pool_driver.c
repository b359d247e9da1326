/* Test driver for the call-site scanner (built by tests/CMakeLists.txt with mingw-w64 for x64 and,
 * when i686-w64-mingw32-gcc exists, for x86; never run): one call of each pool API the real
 * sample drivers do not use, and a wrapper MyAlloc(size, tag) called with two literal tags, itself
 * wrapped once more (depth 2). On x64 also a function that sets the tag register on one branch
 * only (BranchTag): no tag may be recovered there with high confidence. */
typedef __SIZE_TYPE__ SIZE_T;
typedef unsigned int ULONG;
typedef unsigned short USHORT;
typedef unsigned long long ULONG64;
#define NTAPI __stdcall /* ignored on x64; the x86 kernel exports are __stdcall */

__declspec(dllimport) void* NTAPI ExAllocatePool2(ULONG64 flags, SIZE_T size, ULONG tag);
__declspec(dllimport) void* NTAPI ExAllocatePool3(ULONG64 flags, SIZE_T size, ULONG tag,
                                                  const void* parameters, ULONG count);
__declspec(dllimport) void* NTAPI ExAllocatePoolWithTag(int pool_type, SIZE_T size, ULONG tag);
__declspec(dllimport) void* NTAPI ExAllocatePoolWithQuotaTag(int pool_type, SIZE_T size,
                                                             ULONG tag);
__declspec(dllimport) void NTAPI ExInitializeNPagedLookasideList(void* list, void* allocate,
                                                                 void* free, ULONG flags,
                                                                 SIZE_T size, ULONG tag,
                                                                 USHORT depth);
__declspec(dllimport) void NTAPI ExFreePoolWithTag(void* p, ULONG tag);

static char lookaside[128];
void* volatile sink;
volatile int branch;

__attribute__((noinline)) void* MyAlloc(SIZE_T size, ULONG tag) {
  return ExAllocatePoolWithTag(512 /* NonPagedPoolNx */, size, tag);
}

__attribute__((noinline)) void* MyAllocTwice(ULONG tag, SIZE_T size) {
  sink = MyAlloc(size, tag);
  return MyAlloc(size + 1, tag);
}

#ifdef __x86_64__
/* void* BranchTag(int which, ULONG tag): r8d holds the caller's tag unless which == 0, when it is
 * "stBr". The call is reached from both paths: the immediate is only one of the tags passed. */
void* BranchTag(int which, ULONG tag);
__asm__(
    ".text\n"
    ".globl BranchTag\n"
    "BranchTag:\n"
    "  subq $40, %rsp\n"
    "  movl %edx, %r8d\n"
    "  testl %ecx, %ecx\n"
    "  jne 1f\n"
    "  movl $0x72427473, %r8d\n" /* 'rBts' -> bytes "stBr" */
    "1:\n"
    "  movl $96, %edx\n"
    "  movl $512, %ecx\n"
    "  call *__imp_ExAllocatePoolWithTag(%rip)\n"
    "  addq $40, %rsp\n"
    "  ret\n");
#endif

long DriverEntry(void* driver, void* registry) {
  (void)driver;
  (void)registry;
  sink = ExAllocatePool2(0x40 /* POOL_FLAG_NON_PAGED */, 100, 'P2ts'); /* "st2P" */
  sink = ExAllocatePool3(0x40, 120, 'P3ts', 0, 0);                     /* "st3P" */
  sink = ExAllocatePoolWithQuotaTag(1 /* PagedPool */, 200, 'tQts');   /* "stQt" */
  ExInitializeNPagedLookasideList(lookaside, 0, 0, 0, 48, 'sLts', 0);  /* "stLs" */
  sink = MyAlloc(64, 'AWts');                                          /* "stWA" */
  sink = MyAlloc(32, 'BWts');                                          /* "stWB" */
  sink = MyAllocTwice('CWts', 16);                                     /* "stWC" */
#ifdef __x86_64__
  sink = BranchTag(branch, 'xBts'); /* "stBx" */
#endif
  ExFreePoolWithTag(sink, 'BWts');
  return 0;
}
