/*
 * pnp-fixture: a Windows console program, run in Wine, that drives a kernel driver through the
 * PnP manager instead of the service manager. It creates a root-enumerated device with the given
 * hardware ID, installs the given INF for it (the PnP manager then loads the driver, calls
 * AddDevice and sends IRP_MN_START_DEVICE), waits, removes the device (IRP_MN_REMOVE_DEVICE), and
 * prints one "pnp-fixture: <step>: ..." line per step with its result.
 *
 * Usage: pnp-fixture.exe HARDWARE_ID INF_PATH WAIT_MS
 * Exit code: 0 when every step succeeded (the install counts only when a service is bound to the
 * device afterwards), the failed step's number (2 to 7) otherwise.
 *
 * Built by crates/driver-checks/tests/dist.rs with x86_64-w64-mingw32-gcc; never committed as a
 * binary.
 */
#include <windows.h>
#include <setupapi.h>
#include <newdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

/* GUID_DEVCLASS_SYSTEM, the class of the INFs under test. */
static const GUID system_class = {
    0x4d36e97d, 0xe325, 0x11ce, {0xbf, 0xc1, 0x08, 0x00, 0x2b, 0xe1, 0x03, 0x18}};

static void step(const char *name, BOOL ok, DWORD error)
{
    if (ok)
        printf("pnp-fixture: %s: ok\n", name);
    else
        printf("pnp-fixture: %s: FAILED error %lu (0x%08lx)\n", name, error, error);
    fflush(stdout);
}

int wmain(int argc, wchar_t **argv)
{
    SP_DEVINFO_DATA device;
    wchar_t instance[200]; /* MAX_DEVICE_ID_LEN */
    wchar_t hardware_ids[512];
    HDEVINFO set;
    BOOL reboot = FALSE;
    size_t id_len;
    DWORD wait_ms;
    BOOL ok;

    if (argc != 4) {
        printf("pnp-fixture: usage: pnp-fixture.exe HARDWARE_ID INF_PATH WAIT_MS\n");
        return 100;
    }
    id_len = wcslen(argv[1]);
    if (id_len == 0 || id_len + 2 > ARRAYSIZE(hardware_ids)) {
        printf("pnp-fixture: hardware ID empty or too long\n");
        return 100;
    }
    wait_ms = wcstoul(argv[3], NULL, 10);
    if (wait_ms > 600000)
        wait_ms = 600000;

    memset(&device, 0, sizeof(device));
    device.cbSize = sizeof(device);
    set = SetupDiCreateDeviceInfoList(&system_class, NULL);
    step("create device list", set != INVALID_HANDLE_VALUE, GetLastError());
    if (set == INVALID_HANDLE_VALUE)
        return 2;

    ok = SetupDiCreateDeviceInfoW(set, L"XENPNPTEST", &system_class, NULL, NULL,
                                  DICD_GENERATE_ID, &device);
    step("create root device", ok, GetLastError());
    if (!ok)
        return 3;
    if (SetupDiGetDeviceInstanceIdW(set, &device, instance, ARRAYSIZE(instance), NULL))
        printf("pnp-fixture: instance ID %ls\n", instance);

    /* REG_MULTI_SZ: the ID, then an empty string. */
    memset(hardware_ids, 0, sizeof(hardware_ids));
    memcpy(hardware_ids, argv[1], id_len * sizeof(wchar_t));
    ok = SetupDiSetDeviceRegistryPropertyW(set, &device, SPDRP_HARDWAREID, (BYTE *)hardware_ids,
                                           (DWORD)((id_len + 2) * sizeof(wchar_t)));
    step("set hardware ID", ok, GetLastError());
    if (!ok)
        return 4;

    ok = SetupDiCallClassInstaller(DIF_REGISTERDEVICE, set, &device);
    step("register device", ok, GetLastError());
    if (!ok)
        return 5;

    ok = UpdateDriverForPlugAndPlayDevicesW(NULL, argv[1], argv[2], INSTALLFLAG_FORCE, &reboot);
    step("install driver", ok, GetLastError());
    /* Wine 8.0 returns TRUE even when no device matched the INF, so the install is judged by
     * the service now bound to our device. A failed install still leaves a device to remove. */
    if (ok) {
        wchar_t service[256];
        memset(service, 0, sizeof(service));
        ok = SetupDiGetDeviceRegistryPropertyW(set, &device, SPDRP_SERVICE, NULL, (BYTE *)service,
                                               sizeof(service) - sizeof(wchar_t), NULL);
        if (ok)
            printf("pnp-fixture: driver service: %ls\n", service);
        else
            printf("pnp-fixture: driver service: none (error %lu)\n", GetLastError());
        fflush(stdout);
    }

    printf("pnp-fixture: waiting %lu ms\n", wait_ms);
    fflush(stdout);
    Sleep(wait_ms);

    /* DIF_REMOVE: Wine 8.0's PnP manager sends IRP_MN_SURPRISE_REMOVAL, then
     * IRP_MN_REMOVE_DEVICE. The orderly path (IRP_MN_QUERY_REMOVE_DEVICE first) needs
     * CM_Query_And_Remove_SubTreeW, an unimplemented stub in Wine 8.0 that raises an exception,
     * so it is not attempted. */
    {
        BOOL removed = SetupDiCallClassInstaller(DIF_REMOVE, set, &device);
        step("remove device", removed, GetLastError());
        SetupDiDestroyDeviceInfoList(set);
        if (!ok)
            return 6;
        if (!removed)
            return 7;
    }
    printf("pnp-fixture: done\n");
    fflush(stdout);
    return 0;
}
