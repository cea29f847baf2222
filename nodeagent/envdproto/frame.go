package envdproto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FrameType says what a frame's payload holds.
type FrameType byte

// Frame types. Values are part of the wire format: never renumber them.
const (
	FrameExecRequest FrameType = 1 // JSON ExecRequest, agent → envd
	FrameOutput      FrameType = 2 // stream byte + raw output, envd → agent
	FrameResult      FrameType = 3 // JSON Result, envd → agent, last frame
	FrameError       FrameType = 4 // JSON Error, envd → agent, last frame
	FramePing        FrameType = 5 // empty, agent → envd
	FramePong        FrameType = 6 // empty, envd → agent

	FrameDisplay        FrameType = 7  // JSON DisplayData, envd → agent, in a context's exec stream
	FrameContextRequest FrameType = 8  // JSON ContextRequest, agent → envd
	FrameContextReply   FrameType = 9  // JSON ContextReply, envd → agent, last frame
	FrameFileRequest    FrameType = 10 // JSON FileRequest, agent → envd
	FrameFileReply      FrameType = 11 // JSON FileReply, envd → agent
	FrameData           FrameType = 12 // raw file bytes, either way; an empty one ends the data
	FrameWatchEvent     FrameType = 13 // JSON WatchEvent, envd → agent
	FrameProcessRequest FrameType = 14 // JSON ProcessRequest, agent → envd
	FrameProcessReply   FrameType = 15 // JSON ProcessReply, envd → agent
	FrameProcessExit    FrameType = 16 // JSON ProcessExit, envd → agent, last frame of an attach
)

// String names a frame type for logs and errors.
func (t FrameType) String() string {
	switch t {
	case FrameExecRequest:
		return "ExecRequest"
	case FrameOutput:
		return "Output"
	case FrameResult:
		return "Result"
	case FrameError:
		return "Error"
	case FramePing:
		return "Ping"
	case FramePong:
		return "Pong"
	case FrameDisplay:
		return "Display"
	case FrameContextRequest:
		return "ContextRequest"
	case FrameContextReply:
		return "ContextReply"
	case FrameFileRequest:
		return "FileRequest"
	case FrameFileReply:
		return "FileReply"
	case FrameData:
		return "Data"
	case FrameWatchEvent:
		return "WatchEvent"
	case FrameProcessRequest:
		return "ProcessRequest"
	case FrameProcessReply:
		return "ProcessReply"
	case FrameProcessExit:
		return "ProcessExit"
	}
	return fmt.Sprintf("FrameType(%d)", byte(t))
}

const (
	// HeaderSize is the size of a frame header: type byte and length.
	HeaderSize = 5
	// MaxFrameSize bounds a frame's payload. It bounds the code and stdin
	// of one ExecRequest too.
	MaxFrameSize = 16 << 20
	// MaxOutputChunk is the largest Output payload envd sends (stream byte
	// included); larger reads are split.
	MaxOutputChunk = 32 << 10
	// MaxDataChunk is the largest Data payload either side sends.
	MaxDataChunk = 256 << 10
)

// Errors returned by the frame functions.
var (
	// ErrFrameTooLarge is returned for a payload above MaxFrameSize, when
	// writing or when a header announces one.
	ErrFrameTooLarge = errors.New("envdproto: frame too large")
	// ErrBadFrame is returned for a payload that does not decode.
	ErrBadFrame = errors.New("envdproto: malformed frame")
)

// WriteFrame writes one frame with a single call to w.Write.
func WriteFrame(w io.Writer, t FrameType, payload []byte) error {
	if len(payload) > MaxFrameSize {
		return fmt.Errorf("%w: %s of %d bytes", ErrFrameTooLarge, t, len(payload))
	}
	buf := make([]byte, HeaderSize+len(payload))
	putHeader(buf, t, len(payload))
	copy(buf[HeaderSize:], payload)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("envdproto: write %s frame: %w", t, err)
	}
	return nil
}

// WriteJSON marshals v and writes it as one frame of type t.
func WriteJSON(w io.Writer, t FrameType, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("envdproto: encode %s: %w", t, err)
	}
	return WriteFrame(w, t, payload)
}

// WriteOutput writes one Output frame for data read from stream s. data must
// fit in MaxOutputChunk-1 bytes.
func WriteOutput(w io.Writer, s Stream, data []byte) error {
	if len(data)+1 > MaxOutputChunk {
		return fmt.Errorf("%w: output chunk of %d bytes", ErrFrameTooLarge, len(data))
	}
	buf := make([]byte, HeaderSize+1+len(data))
	putHeader(buf, FrameOutput, 1+len(data))
	buf[HeaderSize] = byte(s)
	copy(buf[HeaderSize+1:], data)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("envdproto: write Output frame: %w", err)
	}
	return nil
}

func putHeader(buf []byte, t FrameType, n int) {
	buf[0] = byte(t)
	binary.BigEndian.PutUint32(buf[1:HeaderSize], uint32(n))
}

// ReadFrame reads one frame. It returns io.EOF when r ends cleanly before a
// frame starts, io.ErrUnexpectedEOF (wrapped) when r ends inside a frame, and
// ErrFrameTooLarge (wrapped) when the header announces more than
// MaxFrameSize bytes; in that case the payload is not read.
func ReadFrame(r io.Reader) (FrameType, []byte, error) {
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("envdproto: read frame header: %w", err)
	}
	t := FrameType(hdr[0])
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrameSize {
		return t, nil, fmt.Errorf("%w: %s announces %d bytes", ErrFrameTooLarge, t, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return t, nil, fmt.Errorf("envdproto: read %s payload: %w", t, err)
	}
	return t, payload, nil
}

// DecodeOutput splits an Output payload into its stream and data. data
// aliases payload.
func DecodeOutput(payload []byte) (Stream, []byte, error) {
	if len(payload) < 1 {
		return 0, nil, fmt.Errorf("%w: empty Output payload", ErrBadFrame)
	}
	s := Stream(payload[0])
	if s != StreamStdout && s != StreamStderr {
		return 0, nil, fmt.Errorf("%w: unknown output stream %d", ErrBadFrame, payload[0])
	}
	return s, payload[1:], nil
}

// DecodeJSON unmarshals a JSON payload of frame type t into v.
func DecodeJSON(t FrameType, payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadFrame, t, err)
	}
	return nil
}
