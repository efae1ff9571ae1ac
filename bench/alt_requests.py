# Alternative: Python requests.Session (keep-alive) + json decoding.
import sys, time
import requests
url, ca, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = requests.Session()
s.headers["Authorization"] = "Bearer EAABBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTokenZ0123456789abcdefBenchTo"
s.get(url, verify=ca).json()
w0, c0 = time.perf_counter(), time.process_time()
for _ in range(n):
    assert len(s.get(url, verify=ca).json()["data"]) == 25
print("%.9f %.9f" % ((time.perf_counter() - w0) / n, (time.process_time() - c0) / n))
