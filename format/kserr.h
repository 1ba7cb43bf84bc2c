/* Error codes shared by the ksight libraries. Every library call returns 0 or a
 * negative number: a negative errno, or one of the ksight codes below. */
#ifndef KSIGHT_KSERR_H
#define KSIGHT_KSERR_H

enum ks_err {
	KS_ERR_BASE = 10000,
	KS_EMAGIC,      /* bad magic: not a ksight segment */
	KS_EVERSION,    /* format version this build cannot read */
	KS_ETRUNC,      /* input shorter than its header declares */
	KS_ETOOBIG,     /* a declared size or count is over the limit */
	KS_ECHECKSUM,   /* payload checksum mismatch */
	KS_EDECOMPRESS, /* zstd frame damaged */
	KS_ECOMPRESS,   /* zstd failed to compress */
	KS_EMSGPACK,    /* msgpack document malformed */
	KS_ESCHEMA,     /* document does not match its kind's schema */
	KS_ECOUNT,      /* a column disagrees with the event count */
	KS_EKIND,       /* unknown event kind */
	KS_ENOTTRACE,   /* file is not a ksight trace */
	KS_ECORRUPT,    /* trace database structure damaged */
	KS_ESTORE,      /* other LMDB failure */
	KS_ENOTFOUND,   /* key not present */
	KS_EFLAGS,      /* reserved header flags set */
	KS_ETRAILING,   /* bytes after the segment's declared end */
	KS_ESIZES,      /* declared sizes contradict each other */
	KS_ERAWSIZE,    /* decompressed size differs from the header's */
	KS_ETYPE,       /* document element of the wrong msgpack type */
	KS_EMISMATCH,   /* document version, kind or count differs from the header */
	KS_EVARINT,     /* varint overlong or cut by the column end */
	KS_ERANGE,      /* decoded value does not fit its field */
	KS_ETIMESTAMP,  /* header first/last timestamp differs from the rows */
	KS_ERR_END
};

/* Returns a static message for a negative (or positive) error code. */
const char *ks_strerror(int err);

#endif
