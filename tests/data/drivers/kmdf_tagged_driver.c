/* Test driver for a KMDF driver's own pool tag (issue 16), x64, built by tests/CMakeLists.txt with
 * mingw-w64 as kmdf/wdfsample.sys and never run. DriverEntry binds to the framework and fills a
 * WDF_DRIVER_CONFIG as WDF_DRIVER_CONFIG_INIT does (zeroed, Size, EvtDriverDeviceAdd), then sets
 * DriverPoolTag to 'KTag' and calls WdfDriverCreate through the framework's function table, as a
 * real KMDF driver does. The framework tags the driver's objects 'KTag', not the service-name tag
 * ("samp") the rule would give. The layout is wdfdriver.h's: Size at 0, the two callbacks, then
 * DriverInitFlags at 24 and DriverPoolTag at 28 (32 bytes on x64). */
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

static char bind_info[64];
void* volatile globals;
void** volatile WdfFunctions; /* set by the framework's bind */

static long device_add(void* driver, void* init) {
  (void)driver;
  return init != 0 ? 0 : -1;
}

long DriverEntry(void* driver, void* registry) {
  long status = WdfVersionBind(driver, registry, bind_info, (void*)&globals);
  if (status < 0) return status;
  /* volatile: every field is its own store, as MSVC emits WDF_DRIVER_CONFIG_INIT */
  volatile WDF_DRIVER_CONFIG config;
  config.DriverInitFlags = 0;
  config.EvtDriverUnload = 0;
  config.Size = sizeof(WDF_DRIVER_CONFIG);
  config.EvtDriverDeviceAdd = (void*)device_add;
  config.DriverPoolTag = 0x6761544B; /* 'gaTK': "KTag" in memory */
  return ((PFN_WDFDRIVERCREATE)WdfFunctions[116])(globals, driver, registry, 0,
                                                  (WDF_DRIVER_CONFIG*)&config, 0);
}
