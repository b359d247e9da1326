/* Test driver for a minifilter's context tags (issue 16), x64, built by tests/CMakeLists.txt with
 * mingw-w64 as minifilter.sys and never run. FltAllocateContext takes no tag: the filter manager
 * allocates each context type with the PoolTag of the filter's FLT_CONTEXT_REGISTRATION array
 * (fltkernel.h's layout), which DriverEntry hands to FltRegisterFilter. Its stream contexts are
 * 'MfSc', its stream-handle contexts 'MfSh'; the array ends with FLT_CONTEXT_END. */
typedef unsigned short USHORT;
typedef unsigned int ULONG;
typedef unsigned long long SIZE_T;
typedef struct {
  USHORT ContextType;
  USHORT Flags;
  void* ContextCleanupCallback;
  SIZE_T Size;
  ULONG PoolTag;
  void* ContextAllocateCallback;
  void* ContextFreeCallback;
  void* Reserved1;
} FLT_CONTEXT_REGISTRATION;
typedef struct {
  USHORT Size;
  USHORT Version;
  ULONG Flags;
  const FLT_CONTEXT_REGISTRATION* ContextRegistration;
  const void* OperationRegistration;
  void* FilterUnloadCallback;
} FLT_REGISTRATION;

__declspec(dllimport) long FltRegisterFilter(void* driver, const FLT_REGISTRATION* registration,
                                             void** filter);
__declspec(dllimport) long FltAllocateContext(void* filter, USHORT type, SIZE_T size, int pool,
                                              void** context);

static void cleanup(void* context, USHORT type) {
  (void)context;
  (void)type;
}

static const FLT_CONTEXT_REGISTRATION contexts[] = {
    {0x0008, 0, (void*)cleanup, 48, 0x6353664D /* 'cSfM': "MfSc" */, 0, 0, 0},
    {0x0010, 0, 0, 24, 0x6853664D /* 'hSfM': "MfSh" */, 0, 0, 0},
    {0xffff, 0, 0, 0, 0, 0, 0, 0},
};
static const FLT_REGISTRATION registration = {sizeof(FLT_REGISTRATION), 0x0203, 0, contexts, 0,
                                              0};
void* volatile filter;

long DriverEntry(void* driver, void* registry) {
  (void)registry;
  long status = FltRegisterFilter(driver, &registration, (void**)&filter);
  if (status < 0) return status;
  void* context = 0;
  return FltAllocateContext(filter, 0x0008, 48, 1, &context);
}
