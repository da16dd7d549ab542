printf "Content-Type: text/plain\r\n\r\nran without #!\n"
