package dataset_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// fakeS3 is an in-memory s3io.API for names MinIO refuses to store (".."
// segments, NUL bytes). It keeps one bucket's objects and nothing else.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string]fakeObject
	uploads map[string]map[int32][]byte
	next    int
}

type fakeObject struct {
	data []byte
	meta map[string]string
	etag string
}

func newFakeS3() *fakeS3 {
	return &fakeS3{objects: map[string]fakeObject{}, uploads: map[string]map[int32][]byte{}}
}

func (f *fakeS3) put(key string, data []byte, meta map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.objects[key] = fakeObject{data: data, meta: meta, etag: fmt.Sprintf(`"%d"`, f.next)}
}

func (f *fakeS3) get(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[key]
	return o.data, ok
}

func (f *fakeS3) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.objects))
}

type apiError struct{ code string }

func (e *apiError) Error() string                 { return e.code }
func (e *apiError) ErrorCode() string             { return e.code }
func (e *apiError) ErrorMessage() string          { return e.code }
func (e *apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	key := aws.ToString(in.Key)
	if aws.ToString(in.IfNoneMatch) == "*" {
		if _, ok := f.get(key); ok {
			return nil, &apiError{"PreconditionFailed"}
		}
	}
	f.put(key, b, in.Metadata)
	return &s3.PutObjectOutput{ETag: aws.String("x")}, nil
}

func (f *fakeS3) CreateMultipartUpload(_ context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := fmt.Sprint(f.next)
	f.uploads[id] = map[int32][]byte{}
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id), Bucket: in.Bucket, Key: in.Key}, nil
}

func (f *fakeS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploads[aws.ToString(in.UploadId)][aws.ToInt32(in.PartNumber)] = b
	return &s3.UploadPartOutput{ETag: aws.String("p")}, nil
}

func (f *fakeS3) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.mu.Lock()
	parts := f.uploads[aws.ToString(in.UploadId)]
	delete(f.uploads, aws.ToString(in.UploadId))
	f.mu.Unlock()
	var all []byte
	for _, n := range slices.Sorted(maps.Keys(parts)) {
		all = append(all, parts[n]...)
	}
	f.put(aws.ToString(in.Key), all, nil)
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String("x")}, nil
}

func (f *fakeS3) AbortMultipartUpload(_ context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.uploads, aws.ToString(in.UploadId))
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, &types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(o.data))), ETag: aws.String(o.etag),
		Metadata: o.meta, LastModified: aws.Time(time.Unix(1e9, 0))}, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	data := o.data
	if r := aws.ToString(in.Range); r != "" {
		var from, to int
		fmt.Sscanf(r, "bytes=%d-%d", &from, &to)
		data = data[from:min(to+1, len(data))]
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ETag: aws.String(o.etag)}, nil
}

func (f *fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out := &s3.ListObjectsV2Output{}
	for _, k := range f.keys() {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			f.mu.Lock()
			o := f.objects[k]
			f.mu.Unlock()
			out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(o.data))), ETag: aws.String(o.etag)})
		}
	}
	return out, nil
}
