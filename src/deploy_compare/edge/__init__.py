"""The edge path: a bundle for a phone/Raspberry-Pi-class device, and ingesting its results.

    from deploy_compare.edge.bundle import write_edge_bundle
    write_edge_bundle(manifest_dir, out_dir, artifacts=None, samples=128) -> Path
    # out_dir: the .tflite files, manifest.json (their entries), sample_inputs.npz,
    #          run_edge.py (assembled: numpy + ai-edge-litert/tflite-runtime only), README.txt
    from deploy_compare.edge.ingest import ingest_edge_result
    ingest_edge_result(result_json, run_dir) -> Path     # run_dir/edge/<device>.json
    from deploy_compare.edge.remote import RemoteDevice, RunOptions     # a device over SSH (ssh.py, hosts.py)
    RemoteDevice(EdgeHost(...)).run_bundle(bundle, fetch_dir, RunOptions(), progress) -> Outcome

runner.py is the runner's own part, a module of this package (tests import it;
`python -m deploy_compare.edge.runner` runs it in the source tree) that imports the pure
measurement modules relatively. assemble.py builds the standalone run_edge.py from the
source of those modules plus runner.py; runner.py must import nothing else of
deploy_compare (assemble_runner() raises AssemblyError if it does).
"""
