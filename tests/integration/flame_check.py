"""flame_check.py: reads an SVG flame graph written by profcol with
Python's XML parser (it must be well-formed) and answers about it.

  flame_check.py self SVG NAME     sum of the self shares (percent) of the
                                   frames named NAME, and how many there are
                                   (each share is printed rounded to 0.01)
  flame_check.py fill SVG NAME     the fill colours of the frames named NAME
  flame_check.py frames SVG        number of frames
  flame_check.py reddest SVG       the names of the frames drawn fully red
  flame_check.py blue SVG          the names of the frames drawn blue
  flame_check.py root SVG          the root's value (first number of its
                                   tooltip)
"""
import re
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def frames(path):
    root = ET.parse(path).getroot()
    assert root.tag == NS + "svg", root.tag
    return [g for g in root.iter(NS + "g") if g.get("class") == "f"]


def main():
    what, path = sys.argv[1], sys.argv[2]
    fs = frames(path)
    if what == "frames":
        print(len(fs))
    elif what == "self":
        total, n = 0.0, 0
        for g in fs:
            if g.get("data-n") == sys.argv[3]:
                title = g.find(NS + "title").text
                total += float(re.search(r"self ([0-9.]+)%", title).group(1))
                n += 1
        print("%.4f %d" % (total, n))
    elif what == "fill":
        print(" ".join(sorted({g.find(NS + "rect").get("fill") for g in fs
                               if g.get("data-n") == sys.argv[3]})))
    elif what == "reddest":
        red = "rgb(255,55,55)"  # the largest growth of a differential graph
        print(" ".join(sorted({g.get("data-n") for g in fs
                               if g.find(NS + "rect").get("fill") == red})))
    elif what == "blue":
        print(" ".join(sorted({g.get("data-n") for g in fs
                               if g.find(NS + "rect").get("fill")
                               .endswith(",255)")})))
    elif what == "root":
        g = [g for g in fs if g.get("data-d") == "0"][0]
        print(re.search(r"\((\d+) ", g.find(NS + "title").text).group(1))
    else:
        sys.exit("unknown question " + what)


main()
