"""Every classic server model behind one API: echo, HTTP/1.1 and FTP, standard library only.

python -m server echo --model epoll --bind 127.0.0.1:7000
python -m server models
"""

__version__ = "0.1.0"
