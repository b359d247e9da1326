/* Test driver for the KMDF service-name tag (issue 16), x64, built by tests/CMakeLists.txt with
 * mingw-w64 under the name amdacpbus2.sys (the real owner of the 'amda' leak in
 * ../shared/data/real/windbg/poolused_01) and never run: it binds to the framework
 * (imports WdfVersionBind from wdfldr.sys) and calls no pool API itself, so its only tag is the
 * framework's, from the service name. */
typedef unsigned int ULONG;
__declspec(dllimport) long WdfVersionBind(void* driver, void* registry, void* bind_info,
                                          void* globals);

static char bind_info[64];
void* volatile globals;

long DriverEntry(void* driver, void* registry) {
  return WdfVersionBind(driver, registry, bind_info, (void*)&globals);
}
