{
  "targets": [
    {
      "target_name": "yamori_yara",
      "sources": ["native/yara_addon.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=9"],
      "libraries": ["-lyara"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
