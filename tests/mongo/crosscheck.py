#!/usr/bin/python3
"""The pymongo side of the cross-check: the same documents seen by the official Python driver.

    crosscheck.py URI DB COLL read     prints each document as canonical extended JSON, one a line
    crosscheck.py URI DB COLL write    inserts the documents of stdin (canonical JSON, one a line)
"""
import sys

import pymongo
from bson import json_util

uri, db, coll, mode = sys.argv[1:5]
c = pymongo.MongoClient(uri)[db][coll]
if mode == "read":
    for doc in c.find({}, sort=[("n", 1)]):
        print(json_util.dumps(doc, json_options=json_util.CANONICAL_JSON_OPTIONS))
else:
    docs = [json_util.loads(line) for line in sys.stdin if line.strip()]
    c.insert_many(docs)
    print(len(docs))
