/*
 * SCRIPT_NAME and PATH_INFO of a request whose web server did not split
 * them (see req_split.c for the rule).
 */
#ifndef BRIDGE_REQ_SPLIT_H
#define BRIDGE_REQ_SPLIT_H

struct req;

/*
 * When PATH_INFO is absent or empty and SCRIPT_NAME is the whole path of
 * REQUEST_URI (as decoded, or as nginx and Apache normalize it), make
 * SCRIPT_NAME the mount (NULL: "") and PATH_INFO the rest of the path.
 * Other requests are left as they are.  Returns 0, 404 for a path
 * outside the mount, or 500 (out of memory).
 */
int req_split(struct req *r, const char *mount);

#endif /* BRIDGE_REQ_SPLIT_H */
