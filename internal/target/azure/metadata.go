package azure

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Metadata keys of a disk's page blob (docs/formats/azure-deployment.md). The service keeps
// metadata names case-insensitively; the SDK may hand them back with other capitals.
const (
	metaFormat    = "osr_format"
	metaRun       = "osr_run"
	metaPoint     = "osr_point"
	metaDisk      = "osr_disk"
	metaDiskSize  = "osr_disk_size"
	metaCreated   = "osr_created"
	metaWatermark = "osr_watermark"
	metaComplete  = "osr_complete"
)

// blobFormat is the version of the page-blob layout and its metadata.
const blobFormat = 1

// blobMeta is what a disk's page blob records about itself, so that a later Create of the same
// Run knows whether to resume, skip or start the blob over.
type blobMeta struct {
	Run      string
	Point    string
	Disk     string
	DiskSize int64
	// Created is when the blob was created: the footer's timestamp, so that a resumed upload
	// writes the same footer.
	Created time.Time
	// Watermark is the disk offset below which every data window is written (page-aligned).
	Watermark int64
	// Complete is set last, once the data and the footer are written.
	Complete bool
}

// encode returns the metadata map the SDK sends.
func (m blobMeta) encode() map[string]*string {
	s := func(v string) *string { return &v }
	out := map[string]*string{
		metaFormat:    s(strconv.Itoa(blobFormat)),
		metaRun:       s(m.Run),
		metaPoint:     s(m.Point),
		metaDisk:      s(m.Disk),
		metaDiskSize:  s(strconv.FormatInt(m.DiskSize, 10)),
		metaCreated:   s(strconv.FormatInt(m.Created.Unix(), 10)),
		metaWatermark: s(strconv.FormatInt(m.Watermark, 10)),
	}
	if m.Complete {
		out[metaComplete] = s("true")
	}
	return out
}

// errNotOurs is wrapped by parseMeta's error when the blob carries no osr metadata at all.
var errNotOurs = errors.New("the blob has no osr metadata")

// parseMeta decodes a page blob's metadata. Names are matched case-insensitively; unknown names
// are ignored. Every osr value must be present and well-formed: a blob that fails here is not
// resumed.
func parseMeta(md map[string]*string) (blobMeta, error) {
	get := map[string]string{}
	for k, v := range md {
		if v == nil {
			continue
		}
		k = strings.ToLower(k)
		if strings.HasPrefix(k, "osr_") {
			get[k] = *v
		}
	}
	if len(get) == 0 {
		return blobMeta{}, errNotOurs
	}
	if f := get[metaFormat]; f != strconv.Itoa(blobFormat) {
		return blobMeta{}, fmt.Errorf("blob metadata %s is %q, want %d", metaFormat, f, blobFormat)
	}
	var m blobMeta
	var err error
	for _, k := range []string{metaRun, metaPoint, metaDisk} {
		if _, ok := get[k]; !ok {
			return blobMeta{}, fmt.Errorf("blob metadata %s is missing", k)
		}
	}
	m.Run, m.Point, m.Disk = get[metaRun], get[metaPoint], get[metaDisk]
	num := func(k string) (int64, error) {
		v, ok := get[k]
		if !ok {
			return 0, fmt.Errorf("blob metadata %s is missing", k)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("blob metadata %s is %q, not a non-negative integer", k, v)
		}
		return n, nil
	}
	if m.DiskSize, err = num(metaDiskSize); err != nil {
		return blobMeta{}, err
	}
	created, err := num(metaCreated)
	if err != nil {
		return blobMeta{}, err
	}
	m.Created = time.Unix(created, 0).UTC()
	if m.Watermark, err = num(metaWatermark); err != nil {
		return blobMeta{}, err
	}
	if m.Watermark%PageSize != 0 || m.Watermark > m.DiskSize+PageSize {
		return blobMeta{}, fmt.Errorf("blob metadata %s %d is not a page offset within the disk's %d bytes", metaWatermark, m.Watermark, m.DiskSize)
	}
	switch v, ok := get[metaComplete]; {
	case !ok:
	case v == "true":
		m.Complete = true
	default:
		return blobMeta{}, fmt.Errorf("blob metadata %s is %q, want true or nothing", metaComplete, v)
	}
	return m, nil
}

// sameUpload reports whether a blob's metadata is of the upload want describes (the same Run,
// point and disk of the same size), so that what it holds can be kept.
func (m blobMeta) sameUpload(want blobMeta) bool {
	return m.Run == want.Run && m.Point == want.Point && m.Disk == want.Disk && m.DiskSize == want.DiskSize
}
