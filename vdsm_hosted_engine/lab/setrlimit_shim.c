/* LD_PRELOAD shim for running sanlock in a container without CAP_SYS_RESOURCE.
 *
 * sanlock's daemon raises RLIMIT_MEMLOCK (and RLIMIT_RTPRIO) at start and aborts when the kernel
 * says EPERM. This makes exactly those two failures report success and passes every other call,
 * and every other outcome, through to the real setrlimit(). Built and used only when the machine
 * cannot raise RLIMIT_MEMLOCK (see vdsm_hosted_engine.lab.sanlock_daemon). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/resource.h>

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rlim)
{
    int (*real_setrlimit)(__rlimit_resource_t, const struct rlimit *) = dlsym(RTLD_NEXT, "setrlimit");
    int rv = real_setrlimit(resource, rlim);
    if (rv < 0 && errno == EPERM && (resource == RLIMIT_MEMLOCK || resource == RLIMIT_RTPRIO))
        return 0;
    return rv;
}
