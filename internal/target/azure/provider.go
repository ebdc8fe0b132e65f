package azure

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/target"
)

// Name is the provider's name.
const Name = "azure"

// Names of the blobs beside the disks in a run's folder.
const (
	TemplateBlob   = "template.json"
	DefinitionBlob = "definition.json"
)

// Provider uploads failovers to an Azure Blob Storage container: each disk a fixed-VHD page
// blob, and a deployment template that creates the VM from them.
type Provider struct {
	cfg       Config
	container *container.Client
	base      string // the container URL without a SAS token
	clock     clock.Clock
	log       *slog.Logger
}

var _ target.Provider = (*Provider)(nil)

// New checks the configuration and makes the container's client. It does not connect: Create
// and Remove do, and report what they meet.
func New(cfg Config, deps Deps) (*Provider, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	client, err := newContainerClient(cfg, deps)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, container: client, base: strings.TrimSuffix(redact(cfg.ContainerURL), "/"),
		clock: deps.Clock, log: deps.Logger}

	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// Name returns "azure".
func (p *Provider) Name() string { return Name }

// runDir is the folder of a run's blobs: [PREFIX/]NAME-RUN.
func (p *Provider) runDir(req target.Request) string {
	return path.Join(p.cfg.Prefix, req.Definition.Name+"-"+req.Run)
}

// blobURL is the URL of a blob in the container, without a SAS token.
func (p *Provider) blobURL(name string) string {
	return p.base + "/" + (&url.URL{Path: name}).EscapedPath()
}

// check validates a request before anything is made.
func check(req target.Request) error {
	if err := checkName("run", req.Run); err != nil {
		return err
	}
	if err := checkName("machine name", req.Definition.Name); err != nil {
		return err
	}
	if len(req.Disks) == 0 {
		return errors.New("azure target: the request has no disks")
	}
	if len(req.Disks) != len(req.Definition.Disks) {
		return fmt.Errorf("azure target: the request has %d disks and its definition %d", len(req.Disks), len(req.Definition.Disks))
	}
	seen := map[string]bool{}
	for i, d := range req.Disks {
		if err := checkName("disk name", d.Name()); err != nil {
			return err
		}
		if seen[d.Name()] {
			return fmt.Errorf("azure target: disk %s is given twice", d.Name())
		}
		seen[d.Name()] = true
		if want := req.Definition.Disks[i].Name; want != d.Name() {
			return fmt.Errorf("azure target: disk %d is %s, but the definition names %s", i, d.Name(), want)
		}
		if d.Size() <= 0 {
			return fmt.Errorf("azure target: disk %s has size %d", d.Name(), d.Size())
		}
		if blobSize(d.Size()) > MaxBlobSize {
			return fmt.Errorf("azure target: disk %s of %d bytes is larger than a page blob can hold (8 TiB with its footer)", d.Name(), d.Size())
		}
	}
	return nil
}

// Create uploads the request's disks as page blobs under [PREFIX/]NAME-RUN/DISK.vhd, then the
// machine definition (definition.json) and the deployment template (template.json) beside them.
// It validates the request and renders the template before it writes anything. Called again for
// the same Run it skips complete blobs and resumes the others. On an error the result still
// names the run's location, so that Remove can clean up what was made.
func (p *Provider) Create(ctx context.Context, req target.Request, progress target.Progress) (Result, error) {
	res, err := p.create(ctx, req, progress)
	return res, p.scrub(err)
}

func (p *Provider) create(ctx context.Context, req target.Request, progress target.Progress) (Result, error) {
	if err := check(req); err != nil {
		return Result{}, err
	}
	dir := p.runDir(req)
	res := Result{Provider: Name, Location: p.blobURL(dir), DefinitionFile: p.blobURL(dir + "/" + TemplateBlob)}
	def := req.Definition
	def.Disks = append([]target.DefinitionDisk(nil), def.Disks...)
	var total int64
	for i, d := range req.Disks {
		u := p.blobURL(dir + "/" + d.Name() + ".vhd")
		res.Disks = append(res.Disks, u)
		def.Disks[i].Format, def.Disks[i].File, def.Disks[i].SizeBytes = "page-blob-vhd", u, d.Size()
		total += d.Size()
	}
	tmpl, err := renderTemplate(def, res.Disks, p.cfg)
	if err != nil {
		return Result{}, err
	}
	defJSON, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("azure target: encode the definition: %w", err)
	}
	if p.cfg.CreateContainer {
		if _, err := p.container.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return Result{}, fmt.Errorf("azure target: create container %s: %w", p.base, err)
		}
	}

	var c counts
	report := func(n int64) {
		done := c.done.Add(n)
		if progress != nil {
			progress(done, total)
		}
	}
	for i, d := range req.Disks {
		before := c.written.Load()
		beforePresent := c.present.Load()
		up := &diskUpload{
			p: p, client: p.container.NewPageBlobClient(dir + "/" + d.Name() + ".vhd"), url: res.Disks[i], disk: d, counts: &c, onDone: report,
			want: blobMeta{Run: req.Run, Point: req.Definition.PointID, Disk: d.Name(), DiskSize: d.Size()},
		}
		if err := up.upload(ctx); err != nil {
			res.BytesWritten = c.written.Load()
			return res, err
		}
		p.log.InfoContext(ctx, "azure target: disk uploaded", "disk", d.Name(), "blob", res.Disks[i],
			"written", c.written.Load()-before, "already_there", c.present.Load()-beforePresent)
	}
	present := c.present.Load()
	res.BytesWritten = c.written.Load()
	// Bytes an earlier attempt wrote are neither written nor skipped this time.
	res.BytesSkipped = max(total-res.BytesWritten-present, 0)
	for _, f := range []struct {
		name string
		body []byte
	}{{DefinitionBlob, defJSON}, {TemplateBlob, tmpl}} {
		_, err := p.container.NewBlockBlobClient(dir+"/"+f.name).UploadBuffer(ctx, f.body, &blockblob.UploadBufferOptions{
			HTTPHeaders: &blob.HTTPHeaders{BlobContentType: ptr("application/json")},
		})
		if err != nil {
			return res, fmt.Errorf("azure target: upload %s: %w", f.name, err)
		}
	}
	return res, nil
}

// Result is target.Result; the name keeps signatures short.
type Result = target.Result

// Remove deletes every blob under the run's folder that res.Location names (disks, definition,
// template, and anything else there). The folder must be in this provider's container.
func (p *Provider) Remove(ctx context.Context, res Result) error {
	return p.scrub(p.remove(ctx, res))
}

func (p *Provider) remove(ctx context.Context, res Result) error {
	if res.Provider != Name {
		return fmt.Errorf("azure target: result of provider %q, not %s", res.Provider, Name)
	}
	dir, ok := strings.CutPrefix(res.Location, p.base+"/")
	if !ok {
		return fmt.Errorf("azure target: location %q is not in container %s", redact(res.Location), p.base)
	}
	dir, err := url.PathUnescape(dir)
	if err != nil || dir == "" || strings.HasSuffix(dir, "/") {
		return fmt.Errorf("azure target: location %q does not name a run's folder", redact(res.Location))
	}
	for _, e := range strings.Split(dir, "/") {
		if !namePattern.MatchString(e) {
			return fmt.Errorf("azure target: location %q does not name a run's folder", redact(res.Location))
		}
	}
	prefix := dir + "/"
	pager := p.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("azure target: list %s: %w", p.blobURL(prefix), err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil {
				continue
			}
			_, err := p.container.NewBlobClient(*b.Name).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: ptr(blob.DeleteSnapshotsOptionTypeInclude)})
			if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
				return fmt.Errorf("azure target: delete %s: %w", p.blobURL(*b.Name), err)
			}
			n++
		}
	}
	p.log.InfoContext(ctx, "azure target: removed the run's blobs", "location", p.blobURL(dir), "blobs", n)
	return nil
}

// scrubbed is an error whose message has the SAS token taken out; it unwraps to the original.
type scrubbed struct {
	err error
	msg string
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// sigParam matches a SAS signature in a URL's query, as the SDK's errors show the requests' URLs.
var sigParam = regexp.MustCompile(`(?i)(sig=)[^&\s"']+`)

// scrub takes the SAS signature out of an error's message.
func (p *Provider) scrub(err error) error {
	if err == nil || !sigParam.MatchString(err.Error()) {
		return err
	}
	return &scrubbed{err: err, msg: sigParam.ReplaceAllString(err.Error(), "${1}REDACTED")}
}

// footerID is the VHD unique ID of a run's disk: derived from both, so that a resumed upload
// writes the same footer (an RFC 9562 version 8 UUID).
func footerID(m blobMeta) [16]byte {
	sum := sha256.Sum256([]byte("osr vhd id\x00" + m.Run + "\x00" + m.Point + "\x00" + m.Disk))
	var id [16]byte
	copy(id[:], sum[:16])
	id[6] = id[6]&0x0f | 0x80
	id[8] = id[8]&0x3f | 0x80
	return id
}
