"""The edge path: a bundle for a phone/Raspberry-Pi-class device, and ingesting its results.

    from deploy_compare.edge.bundle import write_edge_bundle
    write_edge_bundle(manifest_dir, out_dir, artifacts=None, samples=128) -> Path
    # out_dir: the .tflite files, manifest.json (their entries), sample_inputs.npz,
    #          run_edge.py (runner.py copied verbatim: numpy + ai-edge-litert/tflite-runtime only),
    #          README.txt
    from deploy_compare.edge.ingest import ingest_edge_result
    ingest_edge_result(result_json, run_dir) -> Path     # run_dir/edge/<device>.json

runner.py is BOTH a module of this package (so tests can import it) and the standalone
script shipped in the bundle; it must never import deploy_compare.
"""
