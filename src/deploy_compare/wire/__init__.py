"""The wire formats both sides of a request share: KServe v2 JSON tensors (v2_json), the
binary tensor data extension (v2_binary), the gRPC ModelInfer messages (v2_grpc) and the
protobuf descriptor builder they and the stacks' own gRPC messages use (protobuf).

The load client (clients/) and the FastAPI server (servers/fastapi_service/) both import
from here; wire imports neither (only errors and numpy/protobuf). Pure: no I/O.
"""
