{
  "targets": [
    {
      "target_name": "yamori_sensor",
      "sources": ["native/addon.c", "native/gate.c", "native/procconn.c", "native/filewatch.c", "native/sockdiag.c", "native/mounts.c", "native/execwatch.c", "native/capture.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=9"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
