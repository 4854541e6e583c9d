/*
 * replay.c -- runs a fuzz target's LLVMFuzzerTestOneInput on every file of a directory, so the
 * corpus is a regression test in every build (libFuzzer or not). Usage: replay DIR. A missing or
 * empty directory is not an error. Linked into every fuzz_*_replay executable, so it defines
 * nothing but main().
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
    if (argc < 2)
        return 0;
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        printf("%s: no corpus, nothing to replay\n", argv[1]);
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char path[4096];
        struct stat sb;
        if (snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name) >= (int)sizeof path)
            continue;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "%s: cannot open\n", path);
            closedir(dir);
            return 1;
        }
        size_t size = (size_t)sb.st_size;
        uint8_t *data = malloc(size ? size : 1);
        if (!data || fread(data, 1, size, f) != size) {
            fprintf(stderr, "%s: cannot read\n", path);
            free(data);
            fclose(f);
            closedir(dir);
            return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        n++;
    }
    closedir(dir);
    printf("%s: replayed %d inputs\n", argv[1], n);
    return 0;
}
