/* Oracle for the xl.cfg the vmdef crate writes: parse it with Xen's own
 * libxlutil (the parser `xl create` uses) and print what Xen understood. */
#include <stdio.h>
#include <stdlib.h>
#include <libxl.h>
#include <libxlutil.h>

static void str(XLU_Config *c, const char *k) {
    const char *v = NULL;
    if (xlu_cfg_get_string(c, k, &v, 1) == 0) printf("%s=%s\n", k, v);
}
static void num(XLU_Config *c, const char *k) {
    long v;
    if (xlu_cfg_get_long(c, k, &v, 1) == 0) printf("%s=%ld\n", k, v);
}
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    XLU_Config *c = xlu_cfg_init(stderr, argv[1]);
    if (!c || xlu_cfg_readfile(c, argv[1])) { fprintf(stderr, "readfile failed\n"); return 1; }
    str(c, "name"); str(c, "uuid"); str(c, "type"); num(c, "memory"); num(c, "vcpus");
    str(c, "kernel"); str(c, "ramdisk"); str(c, "cmdline");
    XLU_ConfigList *disks; int n = 0;
    if (xlu_cfg_get_list(c, "disk", &disks, &n, 0)) { fprintf(stderr, "no disk list\n"); return 1; }
    for (int i = 0; i < n; i++) {
        const char *spec = xlu_cfg_get_listitem(disks, i);
        libxl_device_disk d; libxl_device_disk_init(&d);
        if (xlu_disk_parse(c, 1, &spec, &d)) { fprintf(stderr, "bad disk spec %s\n", spec); return 1; }
        printf("disk%d.target=%s\ndisk%d.vdev=%s\ndisk%d.format=%s\ndisk%d.rw=%d\n",
               i, d.pdev_path, i, d.vdev, i, libxl_disk_format_to_string(d.format), i, d.readwrite);
        libxl_device_disk_dispose(&d);
    }
    xlu_cfg_destroy(c);
    return 0;
}
