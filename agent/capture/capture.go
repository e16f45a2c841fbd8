// Package capture reads one watched path into what the agent reports about it: the SHA-256 of
// its content, its mode, owner and size, and what kind of file it is; for text files also the
// redacted text that later diffs are computed from. It never keeps raw content: hash-only,
// binary and large files are hashed as a stream, text files are masked before they are
// returned.
package capture

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/agent/redact"
)

// Kind says what a watched path is and how much of it is reported.
type Kind string

// Kinds of watched paths.
const (
	// KindText is a text file: hashed, and diffs of its redacted text are reported.
	KindText Kind = "text"
	// KindBinary is a file with NUL bytes or invalid UTF-8: hash and size only.
	KindBinary Kind = "binary"
	// KindLarge is a file over the text size limit: hash and size only.
	KindLarge Kind = "large"
	// KindHashOnly is a file configured as hash-only (/etc/shadow): hash and size only.
	KindHashOnly Kind = "hash_only"
	// KindAbsent is a path that does not exist.
	KindAbsent Kind = "absent"
	// KindDirectory is a directory: mode and owner only.
	KindDirectory Kind = "directory"
	// KindOther is a device, socket or pipe: mode and owner only, never opened.
	KindOther Kind = "other"
	// KindUnreadable is a file the agent may not read: mode, owner and size only.
	KindUnreadable Kind = "unreadable"
)

// File is what the agent reports about one watched path: one entry of the state's "files".
// An absent path is {"kind": "absent"}.
type File struct {
	SHA256 string `json:"sha256,omitempty"`
	// Mode is the permission bits with setuid, setgid and sticky, in octal ("0644").
	Mode string `json:"mode,omitempty"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Size int64  `json:"size"`
	Kind Kind   `json:"kind"`
	// Link is the target when the path is a symbolic link; the rest describes the target.
	Link string `json:"link,omitempty"`
}

// MarshalJSON writes the file in canonical form (drift.Canonical: keys sorted, no white
// space), so that a state built of files needs no second pass to be hashed. An absent path is
// {"kind":"absent"} (with its link, for a dangling one); others have every field, sha256 and
// mode only when known.
func (f File) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 160)
	str := func(key, v string) {
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, `":`...)
		q, _ := json.Marshal(v)
		b = append(b, q...)
		b = append(b, ',')
	}
	num := func(key string, v int64) {
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ',')
	}
	b = append(b, '{')
	if f.Kind != KindAbsent {
		num("gid", int64(f.GID))
	}
	str("kind", string(f.Kind))
	if f.Link != "" {
		str("link", f.Link)
	}
	if f.Kind != KindAbsent {
		if f.Mode != "" {
			str("mode", f.Mode)
		}
		if f.SHA256 != "" {
			str("sha256", f.SHA256)
		}
		num("size", f.Size)
		num("uid", int64(f.UID))
	}
	b[len(b)-1] = '}'
	return b, nil
}

// Absent is the File of a path that does not exist.
var Absent = File{Kind: KindAbsent}

// Stamp is what polling compares to notice a change without reading content.
type Stamp struct {
	Exists           bool
	Dev, Ino         uint64
	Size             int64
	MtimeNs, CtimeNs int64
	Mode             uint32
	UID, GID         uint32
	// Link and the Target fields describe a symbolic link's target.
	Link                         string
	TargetDev, TargetIno         uint64
	TargetMtimeNs, TargetCtimeNs int64
	TargetSize                   int64
	TargetMissing                bool
}

// Result is one capture.
type Result struct {
	File File
	// Text is the redacted content of a text file; nil for other kinds.
	Text []byte
}

// Options tune Capture.
type Options struct {
	// Redactor masks secrets and names hash-only paths; required.
	Redactor *redact.Redactor
	// MaxTextBytes is the largest file read as text; larger ones are KindLarge.
	MaxTextBytes int64
}

// attempts bounds how often Capture re-reads a file that changed while it was read.
const attempts = 4

// Capture reads path. A file that changes while it is read is read again (a few times, then
// the last reading is kept: the next event reports the rest). Only unexpected failures are
// errors: a missing path is KindAbsent, one the agent may not read KindUnreadable.
func Capture(path string, o Options) (Result, error) {
	var res Result
	var err error
	for range attempts {
		var stable bool
		if res, stable, err = once(path, o); err != nil || stable {
			break
		}
	}
	return res, err
}

// once reads path one time and reports whether it stayed the same meanwhile.
func once(path string, o Options) (Result, bool, error) {
	var link string
	li, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return Result{File: Absent}, true, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("stat %s: %w", path, err)
	}
	if li.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return Result{}, false, fmt.Errorf("read link %s: %w", path, err)
		}
	}
	// O_NONBLOCK: a FIFO swapped in after the stat must not block the agent.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if link != "" {
			return Result{File: File{Kind: KindAbsent, Link: link}}, true, nil
		}
		return Result{File: Absent}, true, nil
	case errors.Is(err, fs.ErrPermission):
		fi, serr := os.Stat(path)
		if serr != nil {
			return Result{File: Absent}, true, nil
		}
		file := describe(fi, KindUnreadable)
		file.Link = link
		return Result{File: file}, true, nil
	case err != nil:
		return Result{}, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return Result{}, false, fmt.Errorf("stat %s: %w", path, err)
	}
	if !before.Mode().IsRegular() {
		kind := KindOther
		if before.IsDir() {
			kind = KindDirectory
		}
		file := describe(before, kind)
		file.Link, file.Size = link, 0
		return Result{File: file}, true, nil
	}
	res, err := read(f, path, before, o)
	if err != nil {
		return Result{}, false, err
	}
	res.File.Link = link
	after, err := f.Stat()
	if err != nil {
		return Result{}, false, fmt.Errorf("stat %s: %w", path, err)
	}
	return res, same(before, after), nil
}

// read hashes the open regular file and classifies it.
func read(f *os.File, path string, fi fs.FileInfo, o Options) (Result, error) {
	h := sha256.New()
	hashOnly := o.Redactor.HashOnly(path)
	if hashOnly || fi.Size() > o.MaxTextBytes {
		n, err := io.Copy(h, f)
		if err != nil {
			return Result{}, fmt.Errorf("read %s: %w", path, err)
		}
		kind := KindLarge
		if hashOnly {
			kind = KindHashOnly
		}
		file := describe(fi, kind)
		file.SHA256, file.Size = hex.EncodeToString(h.Sum(nil)), n
		return Result{File: file}, nil
	}
	// Read one byte past the limit to notice a file that grew since the stat.
	content, err := io.ReadAll(io.LimitReader(f, o.MaxTextBytes+1))
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	h.Write(content)
	n := int64(len(content))
	if n > o.MaxTextBytes {
		rest, err := io.Copy(h, f)
		if err != nil {
			return Result{}, fmt.Errorf("read %s: %w", path, err)
		}
		file := describe(fi, KindLarge)
		file.SHA256, file.Size = hex.EncodeToString(h.Sum(nil)), n+rest
		return Result{File: file}, nil
	}
	file := describe(fi, KindText)
	file.SHA256, file.Size = hex.EncodeToString(h.Sum(nil)), n
	if bytes.IndexByte(content, 0) >= 0 || !utf8.Valid(content) {
		file.Kind = KindBinary
		return Result{File: file}, nil
	}
	text := o.Redactor.Mask(content)
	if text == nil {
		// An empty text file still has a (empty) text.
		text = []byte{}
	}
	return Result{File: file, Text: text}, nil
}

// describe fills mode, owner and size from fi.
func describe(fi fs.FileInfo, kind Kind) File {
	file := File{Kind: kind, Size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		file.UID, file.GID = int(st.Uid), int(st.Gid)
		file.Mode = fmt.Sprintf("%04o", st.Mode&0o7777)
	}
	return file
}

// same reports whether a file's metadata is unchanged between two stats of the open file.
func same(a, b fs.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && a.Mode() == b.Mode()
}

// Stat returns path's change stamp, for polling. It never fails: a path it cannot stat is
// not there.
func Stat(path string) Stamp {
	var li syscall.Stat_t
	if err := syscall.Lstat(path, &li); err != nil {
		return Stamp{}
	}
	s := Stamp{
		Exists: true, Dev: li.Dev, Ino: li.Ino, Size: li.Size, MtimeNs: li.Mtim.Nano(),
		CtimeNs: li.Ctim.Nano(), Mode: li.Mode, UID: li.Uid, GID: li.Gid,
	}
	if li.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		s.Link, _ = os.Readlink(path)
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			s.TargetMissing = true
		} else {
			s.TargetDev, s.TargetIno, s.TargetSize = st.Dev, st.Ino, st.Size
			s.TargetMtimeNs, s.TargetCtimeNs = st.Mtim.Nano(), st.Ctim.Nano()
		}
	}
	return s
}
