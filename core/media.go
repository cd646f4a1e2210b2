package core

import (
	"context"
	"io"
)

// The content repository's own errors.
var (
	// ErrCannotOverwriteMedia answers an upload to a media ID that already
	// has content.
	ErrCannotOverwriteMedia = newError("M_CANNOT_OVERWRITE_MEDIA", 409, "Media already uploaded")
	// ErrNotYetUploaded answers a download of a created media ID whose
	// content did not arrive in time.
	ErrNotYetUploaded = newError("M_NOT_YET_UPLOADED", 504, "Content has not yet been uploaded")
)

// MediaBlockSize is the size of the blocks the media store keeps content
// in. ReadMediaAt is cheapest for whole blocks read at multiples of it.
const MediaBlockSize = 256 << 10

// Media is one item of the content repository, named by the media ID of
// its mxc:// URI.
type Media struct {
	MediaID string
	// UserID is the local user who uploaded the content (or created the ID).
	UserID      string
	ContentType string
	// UploadName is the filename given at upload; empty if none was.
	UploadName string
	// Size is the content's length in bytes; SHA256 its hex digest. Both
	// are zero until the content is uploaded.
	Size   int64
	SHA256 string
	// CreatedTS is when the media ID was made, in milliseconds since the
	// Unix epoch.
	CreatedTS int64
	// Uploaded is false for an ID created with POST /media/v1/create whose
	// content has not arrived; UnusedExpiresTS is when that ID lapses (ms).
	Uploaded        bool
	UnusedExpiresTS int64
	// LegacyDownload says the deprecated unauthenticated endpoints may
	// serve the content: it was uploaded while the server had not frozen
	// them (client-server API 1.11, "Content repository").
	LegacyDownload bool
}

// MediaUpload is content arriving for a media ID.
type MediaUpload struct {
	// Media gives MediaID, UserID, ContentType, UploadName, CreatedTS and
	// LegacyDownload; the store computes Size and SHA256.
	Media Media
	// Reserved says MediaID was created earlier by CreateMedia; otherwise
	// it must be new.
	Reserved bool
	// MaxSize bounds the content, in bytes.
	MaxSize int64
	// NowTS is the current time (ms), against which a reservation's expiry
	// is checked.
	NowTS int64
}

// ThumbnailKey names a cached thumbnail of a media item: the size it was
// made for, the method ("crop" or "scale"), and whether an animated
// thumbnail was acceptable.
type ThumbnailKey struct {
	Width, Height int
	Method        string
	Animated      bool
}

// Thumbnail is a cached thumbnail.
type Thumbnail struct {
	Key         ThumbnailKey
	ContentType string
	// Width and Height are the thumbnail's own dimensions.
	Width, Height int
	// Original says the content itself serves as this thumbnail (it is no
	// larger than asked); Data is then empty.
	Original bool
	Data     []byte
}

// MediaStore keeps the content repository: media IDs, their content, and
// thumbnails made from it. Identical contents may be stored once.
type MediaStore interface {
	// CreateMedia reserves m.MediaID for m.UserID until m.UnusedExpiresTS,
	// for content that arrives later through UploadMedia. It returns an
	// error wrapping ErrCannotOverwriteMedia if the ID exists.
	CreateMedia(ctx context.Context, m Media) error
	// PendingMedia counts userID's reserved IDs that have no content and
	// have not expired at nowTS (ms).
	PendingMedia(ctx context.Context, userID string, nowTS int64) (int, error)
	// UploadMedia stores the bytes read from r as the content of
	// up.Media.MediaID and returns the stored Media. It returns an error
	// wrapping ErrTooLarge if r holds more than up.MaxSize bytes (nothing is
	// kept), and for a reserved ID: ErrNotFound if it was never created or
	// has expired, ErrForbidden if another user created it,
	// ErrCannotOverwriteMedia if it already has content. For a new ID it
	// returns ErrCannotOverwriteMedia if the ID exists. An error from r is
	// returned as it is, and nothing is kept.
	UploadMedia(ctx context.Context, up MediaUpload, r io.Reader) (Media, error)
	// Media returns what is recorded about mediaID, uploaded or not (a
	// reservation past its UnusedExpiresTS included: the caller decides). It
	// returns an error wrapping ErrNotFound if the ID is unknown.
	Media(ctx context.Context, mediaID string) (Media, error)
	// ReadMediaAt reads the content of mediaID at offset off, with the
	// contract of io.ReaderAt (io.EOF at or past the end). It returns an
	// error wrapping ErrNotFound if mediaID has no content.
	ReadMediaAt(ctx context.Context, mediaID string, p []byte, off int64) (int, error)
	// Thumbnail returns the cached thumbnail of mediaID's content for key.
	// It returns an error wrapping ErrNotFound if none is cached.
	Thumbnail(ctx context.Context, mediaID string, key ThumbnailKey) (Thumbnail, error)
	// StoreThumbnail caches t for mediaID's content under t.Key, replacing
	// any thumbnail cached there. It returns an error wrapping ErrNotFound
	// if mediaID has no content.
	StoreThumbnail(ctx context.Context, mediaID string, t Thumbnail) error
}
