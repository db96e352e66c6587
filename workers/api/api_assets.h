#ifndef HERALD_API_ASSETS_H
#define HERALD_API_ASSETS_H

/*
 * The web console's files (the files in workers/api/console/), embedded into the library at
 * build time by workers/api/embed_files.cmake, so herald-api serves them from any
 * directory and inside a container image.
 */
#include <stddef.h>

typedef struct api_asset {
    const char *name;         /* file name, e.g. "index.html" */
    const char *content_type; /* by extension */
    const unsigned char *data;
    size_t len;
} api_asset;

extern const api_asset api_assets[];
extern const size_t api_assets_count;

#endif
