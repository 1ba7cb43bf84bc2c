/* Messages for the error codes of kserr.h, shared by every ksight library and
 * printed only by the commands. */
#include <limits.h>
#include <string.h>

#include "format/kserr.h"

#define KS_NCODES (KS_ERR_END - KS_ERR_BASE)

static const char *const messages[KS_NCODES] = {
	[0] = "unknown ksight error",
	[KS_EMAGIC - KS_ERR_BASE] = "bad magic: not a ksight segment",
	[KS_EVERSION - KS_ERR_BASE] = "format version this build cannot read",
	[KS_ETRUNC - KS_ERR_BASE] = "input shorter than its header declares",
	[KS_ETOOBIG - KS_ERR_BASE] = "a declared size or count is over the limit",
	[KS_ECHECKSUM - KS_ERR_BASE] = "payload checksum mismatch",
	[KS_EDECOMPRESS - KS_ERR_BASE] = "zstd frame damaged",
	[KS_ECOMPRESS - KS_ERR_BASE] = "zstd failed to compress",
	[KS_EMSGPACK - KS_ERR_BASE] = "msgpack document malformed",
	[KS_ESCHEMA - KS_ERR_BASE] = "document does not match its kind's schema",
	[KS_ECOUNT - KS_ERR_BASE] = "a column disagrees with the event count",
	[KS_EKIND - KS_ERR_BASE] = "unknown event kind",
	[KS_ENOTTRACE - KS_ERR_BASE] = "file is not a ksight trace",
	[KS_ECORRUPT - KS_ERR_BASE] = "trace database structure damaged",
	[KS_ESTORE - KS_ERR_BASE] = "trace database error",
	[KS_ENOTFOUND - KS_ERR_BASE] = "key not present",
	[KS_EFLAGS - KS_ERR_BASE] = "reserved segment header flags set",
	[KS_ETRAILING - KS_ERR_BASE] = "bytes after the segment's declared end",
	[KS_ESIZES - KS_ERR_BASE] = "segment header sizes contradict each other",
	[KS_ERAWSIZE - KS_ERR_BASE] = "decompressed size differs from the header's",
	[KS_ETYPE - KS_ERR_BASE] = "segment document element has the wrong type",
	[KS_EMISMATCH - KS_ERR_BASE] = "segment document disagrees with its header",
	[KS_EVARINT - KS_ERR_BASE] = "malformed varint in a segment column",
	[KS_ERANGE - KS_ERR_BASE] = "decoded value does not fit its field",
	[KS_ETIMESTAMP - KS_ERR_BASE] = "segment header timestamps differ from its events",
};

/* Returns a static message for err, negative or positive: a ksight code's text,
 * "success" for 0, strerror() for anything else. */
const char *ks_strerror(int err)
{
	long e = err < 0 ? -(long)err : err;

	if (e == 0)
		return "success";
	if (e > KS_ERR_BASE && e < KS_ERR_END)
		return messages[e - KS_ERR_BASE] ? messages[e - KS_ERR_BASE] :
						   messages[0];
	if (e > INT_MAX)
		return "unknown error";
	return strerror((int)e);
}
