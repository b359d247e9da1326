/* Test driver for the call-site walk-back on what real compilers emit (issue 16), x64 only, built
 * by tests/CMakeLists.txt with mingw-w64 and never run. Each helper is written in assembly so the
 * pattern is exactly the one under test whatever gcc's version; tests/unit/attrib/
 * call_sites_test.cpp asserts the tags. Tags are named by their bytes in memory ("Ovr1" is the
 * ULONG 0x3172764f).
 *  - OverrideAllocPaged (section PAGE) and OverrideAllocText (.text): the same helper twice, the
 *    tag parameter replaced by a global when it is set (`cmovne edx, eax`), as in the real driver
 *    of the issue; called with "Ovr1", "Ovr3" (paged) and "Ovr2" (.text).
 *  - DefaultTagAlloc: `tag ? tag : 'Dflt'` by cmov; called with "DfC1".
 *  - SpillAlloc: the tag parameter spilled to its home slot, a call, then reloaded; "Spil".
 *  - TableAlloc: the tag read from a constant table in .rdata (entry 1: "Rdt2").
 *  - TailAlloc: a tail call, `jmp [__imp_ExAllocatePoolWithTag]`; "Tail".
 *  - TailRegAlloc: a tail call through a register, `mov rax, [__imp_X]; jmp rax`; "TlRg".
 *  - CfgAlloc: a CFG-guarded call, the target in rax, `call [guard_dispatch]`; "Cfg1".
 *  - ShlOrAlloc: the tag built from its bytes at run time, `mov r8d, 'r'; shl r8d, 8; or r8d,
 *    'O'; ...` (an unoptimised TAG(a, b, c, d) macro), one byte from another register; "ShOr",
 *    whose 4 bytes are nowhere in the file.
 *  - a function pointer global set to ExAllocatePool2, called from C ("FpG1") and from assembly
 *    (`call [rip+global]`, "FpG2"). */
typedef __SIZE_TYPE__ SIZE_T;
typedef unsigned int ULONG;
typedef unsigned long long ULONG64;

__declspec(dllimport) void* ExAllocatePool2(ULONG64 flags, SIZE_T size, ULONG tag);
__declspec(dllimport) void* ExAllocatePoolWithTag(int pool_type, SIZE_T size, ULONG tag);
__declspec(dllimport) void ExFreePoolWithTag(void* p, ULONG tag);

void* volatile sink;
volatile ULONG tag_override; /* 0 unless set at run time */
void* (*volatile pool2_pointer)(ULONG64, SIZE_T, ULONG);
void (*volatile guard_dispatch)(void); /* stands for __guard_dispatch_icall_fptr */
static void do_nothing(void) {}
__attribute__((used)) const ULONG tag_table[2] = {0x31746452 /* Rdt1 */, 0x32746452 /* Rdt2 */};

void* OverrideAllocPaged(SIZE_T size, ULONG tag);
void* OverrideAllocText(SIZE_T size, ULONG tag);
void* DefaultTagAlloc(SIZE_T size, ULONG tag);
void* SpillAlloc(SIZE_T size, ULONG tag);
void* TableAlloc(void);
void* TailAlloc(void);
void* CfgAlloc(void);
void* ShlOrAlloc(void);
void* TailRegAlloc(void);
void* PointerAlloc(void);

#define OVERRIDE_HELPER(name, section)                                                    \
  __asm__("." section "\n"                                                                \
          ".globl " name "\n" name                                                        \
          ":\n"                                                                           \
          "  subq $40, %rsp\n"                                                            \
          "  movl tag_override(%rip), %eax\n"                                             \
          "  testl %eax, %eax\n"                                                          \
          "  cmovnel %eax, %edx\n"                                                        \
          "  movl %edx, %r8d\n"                                                           \
          "  movq %rcx, %rdx\n"                                                           \
          "  movl $0x600, %ecx\n"                                                         \
          "  call *__imp_ExAllocatePoolWithTag(%rip)\n"                                   \
          "  addq $40, %rsp\n"                                                            \
          "  ret\n")
OVERRIDE_HELPER("OverrideAllocPaged", "section PAGE,\"xr\"");
OVERRIDE_HELPER("OverrideAllocText", "text");

__asm__(
    ".text\n"
    ".globl DefaultTagAlloc\n"
    "DefaultTagAlloc:\n"
    "  subq $40, %rsp\n"
    "  movl $0x746c6644, %r8d\n" /* Dflt */
    "  testl %edx, %edx\n"
    "  cmovnel %edx, %r8d\n"
    "  movq %rcx, %rdx\n"
    "  movl $512, %ecx\n"
    "  call *__imp_ExAllocatePoolWithTag(%rip)\n"
    "  addq $40, %rsp\n"
    "  ret\n"

    ".globl SpillAlloc\n"
    "SpillAlloc:\n"
    "  movl %edx, 16(%rsp)\n" /* the tag to its home slot */
    "  movq %rcx, 8(%rsp)\n"
    "  subq $40, %rsp\n"
    "  call do_nothing\n"
    "  movl 56(%rsp), %r8d\n" /* reloaded after the call */
    "  movq 48(%rsp), %rdx\n"
    "  movl $512, %ecx\n"
    "  call *__imp_ExAllocatePoolWithTag(%rip)\n"
    "  addq $40, %rsp\n"
    "  ret\n"

    ".globl TableAlloc\n"
    "TableAlloc:\n"
    "  subq $40, %rsp\n"
    "  movl tag_table+4(%rip), %r8d\n"
    "  movl $24, %edx\n"
    "  movl $512, %ecx\n"
    "  call *__imp_ExAllocatePoolWithTag(%rip)\n"
    "  addq $40, %rsp\n"
    "  ret\n"

    ".globl TailAlloc\n"
    "TailAlloc:\n"
    "  movl $0x6c696154, %r8d\n" /* Tail */
    "  movl $32, %edx\n"
    "  movl $512, %ecx\n"
    "  jmp *__imp_ExAllocatePoolWithTag(%rip)\n"

    ".globl TailRegAlloc\n"
    "TailRegAlloc:\n"
    "  movq __imp_ExAllocatePoolWithTag(%rip), %rax\n"
    "  movl $0x67526c54, %r8d\n" /* TlRg */
    "  movl $40, %edx\n"
    "  movl $512, %ecx\n"
    "  jmp *%rax\n"

    ".globl ShlOrAlloc\n"
    "ShlOrAlloc:\n"
    "  subq $40, %rsp\n"
    "  movl $0x72, %r8d\n" /* 'r' */
    "  shll $8, %r8d\n"
    "  orl $0x4f, %r8d\n" /* 'O' */
    "  shll $8, %r8d\n"
    "  movl $0x68, %eax\n" /* 'h', from another register */
    "  orl %eax, %r8d\n"
    "  shll $8, %r8d\n"
    "  orl $0x53, %r8d\n" /* 'S' */
    "  movl $24, %edx\n"
    "  movl $512, %ecx\n"
    "  call *__imp_ExAllocatePoolWithTag(%rip)\n"
    "  addq $40, %rsp\n"
    "  ret\n"

    ".globl CfgAlloc\n"
    "CfgAlloc:\n"
    "  subq $40, %rsp\n"
    "  movq __imp_ExAllocatePoolWithTag(%rip), %rax\n"
    "  movl $0x31676643, %r8d\n" /* Cfg1 */
    "  movl $16, %edx\n"
    "  movl $512, %ecx\n"
    "  call *guard_dispatch(%rip)\n"
    "  addq $40, %rsp\n"
    "  ret\n"

    ".globl PointerAlloc\n"
    "PointerAlloc:\n"
    "  subq $40, %rsp\n"
    "  movl $0x32477046, %r8d\n" /* FpG2 */
    "  movl $8, %edx\n"
    "  movl $0x40, %ecx\n"
    "  call *pool2_pointer(%rip)\n"
    "  addq $40, %rsp\n"
    "  ret\n");

long DriverEntry(void* driver, void* registry) {
  (void)driver;
  (void)registry;
  guard_dispatch = do_nothing;
  pool2_pointer = ExAllocatePool2;
  sink = OverrideAllocPaged(64, 0x3172764f);  /* Ovr1 */
  sink = OverrideAllocText(64, 0x3272764f);   /* Ovr2 */
  sink = OverrideAllocPaged(128, 0x3372764f); /* Ovr3 */
  sink = DefaultTagAlloc(48, 0x31436644);     /* DfC1 */
  sink = SpillAlloc(40, 0x6c697053);          /* Spil */
  sink = TableAlloc();
  sink = TailAlloc();
  sink = CfgAlloc();
  sink = ShlOrAlloc();
  sink = TailRegAlloc();
  sink = pool2_pointer(0x40, 8, 0x31477046); /* FpG1 */
  sink = PointerAlloc();
  ExFreePoolWithTag(sink, 0x32477046);
  return 0;
}
