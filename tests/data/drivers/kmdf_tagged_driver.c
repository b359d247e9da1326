/* Test driver for a KMDF driver's own pool tag (issue 16), x64, built by tests/CMakeLists.txt with
 * mingw-w64 as kmdf/wdfsample.sys and never run. DriverEntry binds to the framework and fills a
 * WDF_DRIVER_CONFIG as WDF_DRIVER_CONFIG_INIT does (zeroed, Size, EvtDriverDeviceAdd), then sets
 * DriverPoolTag to 'KTag' and calls WdfDriverCreate through the framework's function table, as a
 * real KMDF driver does. The framework tags the driver's objects 'KTag', not the service-name tag
 * ("samp") the rule would give. The layout is wdfdriver.h's: Size at 0, the two callbacks, then
 * DriverInitFlags at 24 and DriverPoolTag at 28 (32 bytes on x64).
 * It then allocates through the table as wdfmemory.h's inline functions do: WdfMemoryCreate
 * (WdfMemoryCreateTableIndex 192, PoolTag the 4th argument: r9d) with 'KMem', WdfLookasideListCreate
 * (198, PoolTag the 6th: on the stack) with 'KLsd', and a wrapper of WdfMemoryCreate whose tag is
 * its first parameter, called with 'KWrp' and 'KWr2'; and, in assembly as MSVC emits it with
 * Control Flow Guard, `mov rax, [rax+600h]; call [__guard_dispatch_icall_fptr]` with 'KCfg'. The table is found the way the framework finds it: the
 * WDF_BIND_INFO passed to WdfVersionBind (fxldr.h) points at the WdfFunctions global. */
/* Built for x64 (kmdf/wdfsample.sys) and, when i686-w64-mingw32-gcc exists, for x86
 * (kmdf_x86/wdfsample_x86.sys: the same calls, `call [eax+300h]`, arguments on the stack). */
typedef unsigned int ULONG;
typedef struct {
  ULONG Size;
  void* EvtDriverDeviceAdd;
  void* EvtDriverUnload;
  ULONG DriverInitFlags;
  ULONG DriverPoolTag;
} WDF_DRIVER_CONFIG;
typedef long (*PFN_WDFDRIVERCREATE)(void* globals, void* driver, void* registry, void* attributes,
                                    WDF_DRIVER_CONFIG* config, void** out);

__declspec(dllimport) long WdfVersionBind(void* driver, void* registry, void* bind_info,
                                          void* globals);

typedef long (*PFN_WDFMEMORYCREATE)(void* globals, void* attributes, int pool_type, ULONG tag,
                                    __SIZE_TYPE__ size, void** memory, void** buffer);
typedef long (*PFN_WDFLOOKASIDELISTCREATE)(void* globals, void* attributes,
                                           __SIZE_TYPE__ size, int pool_type,
                                           void* memory_attributes, ULONG tag, void** lookaside);
enum { WdfDriverCreateTableIndex = 116, WdfMemoryCreateTableIndex = 192,
       WdfLookasideListCreateTableIndex = 198 };

void* volatile globals;
void** volatile WdfFunctions; /* set by the framework's bind */

/* fxldr.h's WDF_BIND_INFO, as the KMDF stub library defines it in the driver's data. */
typedef struct {
  ULONG Major, Minor, Build;
} WDF_VERSION;
typedef struct {
  ULONG Size;
  const void* Component;
  WDF_VERSION Version;
  ULONG FuncCount;
  void* FuncTable; /* &WdfFunctions */
  void* Module;
} WDF_BIND_INFO;
WDF_BIND_INFO bind_info = {sizeof(WDF_BIND_INFO), L"KmdfLibrary", {1, 15, 0}, 444,
                           (void*)&WdfFunctions, 0};

#if defined(__x86_64__)
void (*volatile guard_dispatch)(void); /* stands for __guard_dispatch_icall_fptr */
long CfgMemoryCreate(void** memory);
__asm__(
    ".globl CfgMemoryCreate\n"
    "CfgMemoryCreate:\n"
    "  subq $56, %rsp\n"
    "  movq %rcx, 40(%rsp)\n" /* Memory */
    "  movq $128, 32(%rsp)\n" /* BufferSize */
    "  movq $0, 48(%rsp)\n"   /* Buffer */
    "  movq WdfFunctions(%rip), %rax\n"
    "  movq 0x600(%rax), %rax\n" /* WdfFunctions[WdfMemoryCreateTableIndex] */
    "  movl $0x6766434b, %r9d\n" /* KCfg */
    "  movl $1, %r8d\n"
    "  xorl %edx, %edx\n"
    "  movq globals(%rip), %rcx\n"
    "  call *guard_dispatch(%rip)\n"
    "  addq $56, %rsp\n"
    "  ret\n");
#else /* x86 (built as wdfsample_x86.sys): no CFG form */
static long CfgMemoryCreate(void** memory) {
  (void)memory;
  return 0;
}
#endif

/* A helper of the driver: the tag is its first parameter. */
__attribute__((noinline)) long memory_create(ULONG tag, __SIZE_TYPE__ size,
                                                    void** memory) {
  return ((PFN_WDFMEMORYCREATE)WdfFunctions[WdfMemoryCreateTableIndex])(globals, 0, 1, tag, size,
                                                                        memory, 0);
}

static long device_add(void* driver, void* init) {
  (void)driver;
  return init != 0 ? 0 : -1;
}

long DriverEntry(void* driver, void* registry) {
  long status = WdfVersionBind(driver, registry, &bind_info, (void*)&globals);
  if (status < 0) return status;
  /* volatile: every field is its own store, as MSVC emits WDF_DRIVER_CONFIG_INIT */
  volatile WDF_DRIVER_CONFIG config;
  config.DriverInitFlags = 0;
  config.EvtDriverUnload = 0;
  config.Size = sizeof(WDF_DRIVER_CONFIG);
  config.EvtDriverDeviceAdd = (void*)device_add;
  config.DriverPoolTag = 0x6761544B; /* 'gaTK': "KTag" in memory */
  status = ((PFN_WDFDRIVERCREATE)WdfFunctions[WdfDriverCreateTableIndex])(
      globals, driver, registry, 0, (WDF_DRIVER_CONFIG*)&config, 0);
  if (status < 0) return status;
  void* memory = 0;
  void* lookaside = 0;
  status = ((PFN_WDFMEMORYCREATE)WdfFunctions[WdfMemoryCreateTableIndex])(
      globals, 0, 0, 0x6D654D4B /* "KMem" */, 256, &memory, 0);
  if (status < 0) return status;
  status = ((PFN_WDFLOOKASIDELISTCREATE)WdfFunctions[WdfLookasideListCreateTableIndex])(
      globals, 0, 512, 0, 0, 0x64734C4B /* "KLsd" */, &lookaside);
  if (status < 0) return status;
  status = memory_create(0x7072574B /* "KWrp" */, 64, &memory);
  if (status < 0) return status;
  status = memory_create(0x3272574B /* "KWr2" */, 32, &memory);
  if (status < 0) return status;
  return CfgMemoryCreate(&memory);
}
