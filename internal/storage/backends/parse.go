package backends

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/opensiterecovery/osr/internal/storage/azure"
	"github.com/opensiterecovery/osr/internal/storage/s3"
)

type kind int

const (
	kindFile kind = iota + 1
	kindAzure
	kindS3
)

// target is a parsed storage URL with its credentials.
type target struct {
	kind  kind
	dir   string
	azure azure.Config
	s3    s3.Config
}

var (
	schemeRE    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)
	containerRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)
	bucketRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// parse reads a storage URL (or a plain path) and the credentials it needs from getenv.
func parse(rawURL string, getenv func(string) string) (target, error) {
	if strings.TrimSpace(rawURL) == "" {
		return target{}, errors.New("empty storage URL")
	}
	if !schemeRE.MatchString(rawURL) && !strings.HasPrefix(rawURL, "file:") {
		return target{kind: kindFile, dir: rawURL}, nil // a plain path
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error repeats the URL, which may hold a secret by mistake
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return target{}, fmt.Errorf("malformed storage URL: %w", err)
	}
	shown := u.Redacted()
	if u.User != nil {
		return target{}, fmt.Errorf("storage URL %s: credentials do not go in the URL; set them in the environment", shown)
	}
	if u.Fragment != "" {
		return target{}, fmt.Errorf("storage URL %s: unexpected fragment", shown)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		return parseFile(u, shown)
	case "azure":
		return parseAzure(u, shown, getenv)
	case "s3":
		return parseS3(u, shown, getenv)
	}
	return target{}, fmt.Errorf("storage URL %s: unknown scheme %q (want file, azure or s3, or a plain path)", shown, u.Scheme)
}

func parseFile(u *url.URL, shown string) (target, error) {
	if u.Host != "" && u.Host != "localhost" {
		return target{}, fmt.Errorf("storage URL %s: a file URL has no host; write file:///absolute/path", shown)
	}
	if u.RawQuery != "" {
		return target{}, fmt.Errorf("storage URL %s: a file URL takes no parameters", shown)
	}
	if !strings.HasPrefix(u.Path, "/") {
		return target{}, fmt.Errorf("storage URL %s: a file URL needs an absolute path (file:///path); "+
			"a relative path is written without file:", shown)
	}
	return target{kind: kindFile, dir: u.Path}, nil
}

func parseAzure(u *url.URL, shown string, getenv func(string) string) (target, error) {
	if u.Host == "" {
		return target{}, fmt.Errorf("storage URL %s: no container; want azure://CONTAINER[/PREFIX]", shown)
	}
	if !containerRE.MatchString(u.Host) {
		return target{}, fmt.Errorf("storage URL %s: invalid container name %q "+
			"(3 to 63 lowercase letters, digits and single hyphens)", shown, u.Host)
	}
	if u.RawQuery != "" {
		return target{}, fmt.Errorf("storage URL %s: an azure URL takes no parameters", shown)
	}
	cfg := azure.Config{Container: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if cs := getenv("AZURE_STORAGE_CONNECTION_STRING"); cs != "" {
		cfg.ConnectionString = cs
		return target{kind: kindAzure, azure: cfg}, nil
	}
	cfg.Account = getenv("AZURE_STORAGE_ACCOUNT")
	cfg.Key = getenv("AZURE_STORAGE_KEY")
	cfg.Endpoint = getenv("AZURE_STORAGE_ENDPOINT")
	switch {
	case cfg.Account == "" && cfg.Key == "":
		return target{}, fmt.Errorf("storage URL %s: no Azure credentials: set AZURE_STORAGE_CONNECTION_STRING, "+
			"or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY", shown)
	case cfg.Account == "":
		return target{}, fmt.Errorf("storage URL %s: AZURE_STORAGE_KEY is set but AZURE_STORAGE_ACCOUNT is not", shown)
	case cfg.Key == "":
		return target{}, fmt.Errorf("storage URL %s: AZURE_STORAGE_ACCOUNT is set but AZURE_STORAGE_KEY is not", shown)
	}
	if cfg.Endpoint != "" {
		if e, err := url.Parse(cfg.Endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return target{}, fmt.Errorf("AZURE_STORAGE_ENDPOINT %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	return target{kind: kindAzure, azure: cfg}, nil
}

func parseS3(u *url.URL, shown string, getenv func(string) string) (target, error) {
	if u.Host == "" {
		return target{}, fmt.Errorf("storage URL %s: no host; want s3://HOST[:PORT]/BUCKET[/PREFIX]", shown)
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return target{}, fmt.Errorf("storage URL %s: no bucket; want s3://HOST[:PORT]/BUCKET[/PREFIX]", shown)
	}
	if !bucketRE.MatchString(bucket) {
		return target{}, fmt.Errorf("storage URL %s: invalid bucket name %q", shown, bucket)
	}
	cfg := s3.Config{Endpoint: u.Host, Bucket: bucket, Prefix: strings.Trim(prefix, "/")}
	for key, vals := range u.Query() {
		val := vals[len(vals)-1]
		switch key {
		case "tls":
			tls, err := strconv.ParseBool(val)
			if err != nil {
				return target{}, fmt.Errorf("storage URL %s: tls=%q: want true or false", shown, val)
			}
			cfg.Insecure = !tls
		case "region":
			cfg.Region = val
		default:
			return target{}, fmt.Errorf("storage URL %s: unknown parameter %q (want tls or region)", shown, key)
		}
	}
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_REGION")
	}
	cfg.AccessKey = getenv("AWS_ACCESS_KEY_ID")
	cfg.SecretKey = getenv("AWS_SECRET_ACCESS_KEY")
	var missing []string
	if cfg.AccessKey == "" {
		missing = append(missing, "AWS_ACCESS_KEY_ID")
	}
	if cfg.SecretKey == "" {
		missing = append(missing, "AWS_SECRET_ACCESS_KEY")
	}
	if len(missing) > 0 {
		return target{}, fmt.Errorf("storage URL %s: no S3 credentials: set %s", shown, strings.Join(missing, " and "))
	}
	return target{kind: kindS3, s3: cfg}, nil
}
