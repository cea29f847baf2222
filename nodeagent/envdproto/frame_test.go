package envdproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		typ     FrameType
		payload []byte
	}{
		{"empty ping", FramePing, nil},
		{"small", FrameResult, []byte(`{"exitCode":3}`)},
		{"max size", FrameExecRequest, bytes.Repeat([]byte{'x'}, MaxFrameSize)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tc.typ, tc.payload); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
			typ, got, err := ReadFrame(&buf)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if typ != tc.typ || !bytes.Equal(got, tc.payload) {
				t.Fatalf("got %s with %d bytes, want %s with %d", typ, len(got), tc.typ, len(tc.payload))
			}
			if _, _, err := ReadFrame(&buf); err != io.EOF {
				t.Fatalf("after last frame: err = %v, want io.EOF", err)
			}
		})
	}
}

func TestJSONAndOutputRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	req := ExecRequest{ID: "e1", Language: LangPython, Code: "print(1)", Env: map[string]string{"A": "b"}, TimeoutMS: 1500}
	if err := WriteJSON(&buf, FrameExecRequest, &req); err != nil {
		t.Fatal(err)
	}
	if err := WriteOutput(&buf, StreamStderr, []byte("oops\n")); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := ReadFrame(&buf)
	if err != nil || typ != FrameExecRequest {
		t.Fatalf("ReadFrame = %s, %v", typ, err)
	}
	var got ExecRequest
	if err := DecodeJSON(typ, payload, &got); err != nil {
		t.Fatal(err)
	}
	if got.Code != req.Code || got.Env["A"] != "b" || got.Timeout().Milliseconds() != 1500 || got.OutputLimit() != DefaultMaxOutputBytes {
		t.Fatalf("decoded %+v", got)
	}
	typ, payload, err = ReadFrame(&buf)
	if err != nil || typ != FrameOutput {
		t.Fatalf("ReadFrame = %s, %v", typ, err)
	}
	s, data, err := DecodeOutput(payload)
	if err != nil || s != StreamStderr || string(data) != "oops\n" {
		t.Fatalf("DecodeOutput = %v %q %v", s, data, err)
	}
}

func TestOversizeFrameRejected(t *testing.T) {
	err := WriteFrame(io.Discard, FrameExecRequest, make([]byte, MaxFrameSize+1))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteFrame oversize: err = %v, want ErrFrameTooLarge", err)
	}
	if err := WriteOutput(io.Discard, StreamStdout, make([]byte, MaxOutputChunk)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteOutput oversize: err = %v, want ErrFrameTooLarge", err)
	}
	// A header announcing too much is rejected before any payload is read
	// (the reader here holds no payload at all).
	hdr := make([]byte, HeaderSize)
	hdr[0] = byte(FrameExecRequest)
	binary.BigEndian.PutUint32(hdr[1:], MaxFrameSize+1)
	if _, _, err := ReadFrame(bytes.NewReader(hdr)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("ReadFrame oversize: err = %v, want ErrFrameTooLarge", err)
	}
}

func TestTruncatedFrame(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, FrameResult, []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for _, cut := range []int{1, HeaderSize - 1, HeaderSize, len(full) - 1} {
		_, _, err := ReadFrame(bytes.NewReader(full[:cut]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: err = %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

func TestDecodeBadPayloads(t *testing.T) {
	if _, _, err := DecodeOutput(nil); !errors.Is(err, ErrBadFrame) {
		t.Errorf("empty output: %v", err)
	}
	if _, _, err := DecodeOutput([]byte{9, 'x'}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("bad stream: %v", err)
	}
	var r Result
	if err := DecodeJSON(FrameResult, []byte("{"), &r); !errors.Is(err, ErrBadFrame) {
		t.Errorf("bad json: %v", err)
	}
}

func TestCPUTime(t *testing.T) {
	for _, tc := range []struct {
		req  ExecRequest
		want time.Duration
	}{
		{ExecRequest{}, 0},
		{ExecRequest{CPUTimeMS: 1500}, 1500 * time.Millisecond},
		{ExecRequest{CPUTimeMS: -5}, 0},
	} {
		if got := tc.req.CPUTime(); got != tc.want {
			t.Errorf("%+v: CPUTime = %v, want %v", tc.req, got, tc.want)
		}
	}
}
